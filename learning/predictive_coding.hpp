#pragma once
/// \file
/// The learning rule of predictive coding (Whittington & Bogacz 2017): relax the hidden layers
/// with the output clamped to the target (or nudged towards it), then ΔW_l = ε_l f(x_{l−1})ᵀ; and
/// its fixed-prediction variant (Millidge, Tschantz & Buckley 2022), equal to backprop after L − 1
/// synchronous steps. THEORY.md §5.

#include <array>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "models/predictive_coding.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// Which form of the predictive-coding rule.
enum class PCVariant {
  relaxed,           ///< relax the hidden layers with the output clamped (or nudged), then the local update
  fixed_prediction,  ///< μ and f' frozen at the feed-forward values, ε_L = −∂C/∂y: backprop after L − 1 steps
};
/// What the relaxed variant does to the output layer.
enum class PCOutput {
  clamped,  ///< x_L = d (Whittington & Bogacz): the output error is the squared error's, scaled by Σ_L
  nudged,   ///< F + βC with x_L free: the update (1/β)∂F/∂θ is EP's one-sided estimate on this energy
};

template <>
struct EnumNames<PCVariant> {
  static constexpr std::array<std::pair<PCVariant, std::string_view>, 2> values{
      {{PCVariant::relaxed, "relaxed"}, {PCVariant::fixed_prediction, "fixed_prediction"}}};
};
template <>
struct EnumNames<PCOutput> {
  static constexpr std::array<std::pair<PCOutput, std::string_view>, 2> values{
      {{PCOutput::clamped, "clamped"}, {PCOutput::nudged, "nudged"}}};
};

/// Options of PredictiveCodingRule.
struct PCOptions {
  /// The free phase (for a PredictiveCoding network: its feed-forward pass, in closed form).
  RelaxOptions free;
  /// The relaxed variant's inference phase, from the free fixed point with the output clamped or
  /// nudged. A residual δ in ‖∂F/∂x‖ moves the estimate by about Σ_L·δ: relax well below the
  /// accuracy wanted.
  RelaxOptions inference = [] {
    RelaxOptions o;
    o.method = Method::euler;
    o.dt = 0.2;
    o.grad_tol = 1e-6;
    o.max_steps = 200;
    return o;
  }();
  PCVariant variant = PCVariant::relaxed;
  PCOutput output = PCOutput::clamped;
  double beta = 0.1;  ///< nudged output: strength β of F + βC
  long steps = 0;     ///< fixed_prediction: synchronous steps (0 = L − 1, where it equals backprop)

  static constexpr auto fields() {
    using O = PCOptions;
    return std::tuple{
        field("variant", &O::variant,
              "relaxed (relax with the output clamped or nudged, then dW = eps f(x)^T) or fixed_prediction "
              "(mu and f' frozen: backprop after L-1 steps)"),
        field("output", &O::output, "relaxed variant: clamped (x_L = target, squared error) or nudged (F + beta C)"),
        field("beta", &O::beta, "nudged output: nudging strength", positive),
        field("steps", &O::steps, "fixed_prediction: synchronous steps (0 = L-1)", non_negative),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    if (!detail::nested_valid(free, "pc.free", why)) return false;
    if (!detail::nested_valid(inference, "pc.inference", why)) return false;
    return check_fields(*this, "pc.", why);
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// Σ over the batch of dJ/dθ, J = C(y, d) with y the feed-forward output: backprop through the
/// network's feed-forward pass (= the exact implicit gradient of the energy model at its free
/// fixed point). δ_L = ∂C/∂y, δ_{l−1} = f'(x_{l−1}) ⊙ W_lᵀδ_l, ∂J/∂W_l = δ_l f(x_{l−1})ᵀ.
template <std::floating_point T, class C = SquaredError<T>>
Vector<T> feedforward_backprop(const PredictiveCoding<T>& net, ConstRef<T> x, ConstRef<T> target, const C& cost = C{}) {
  const Matrix<T> s = net.feedforward(x);
  Matrix<T> delta = Matrix<T>::Zero(s.rows(), s.cols());
  const Index L = net.num_layers();
  {
    auto out = net.layer(delta, L);
    cost.gradient(net.layer(s, L), target, out);
  }
  Matrix<T> d(s.rows(), s.cols());
  net.activation().d_rho(s, d);
  for (Index k = L - 1; k >= 1; --k)
    net.layer(delta, k) = (net.layer(d, k).array() * (net.weight(k + 1).transpose() * net.layer(delta, k + 1)).array()).matrix();
  Vector<T> grad(net.params().size());
  net.param_gradient_from_errors(s, x, -delta, grad);  // −(−δ) f(x)ᵀ
  return grad;
}

/// The prediction errors of the fixed-prediction variant after `steps` synchronous steps from the
/// feed-forward state `s_ff`: ε_L = −∂C/∂y (given as `output_error`) throughout, ε_l = 0 at step 0, and
/// \f[ \varepsilon_l \leftarrow f'(\bar x_l) \odot W_{l+1}^\top \varepsilon_{l+1} \f]
/// for every l < L at once. This is the inference x_l ← x_l + Σ_l(−ε_l + f'(x̄_l) ⊙ W_{l+1}ᵀε_{l+1})
/// with μ_l and f' frozen at the feed-forward values (ε_l = (x_l − μ̄_l)/Σ_l), written on the errors
/// so that no x − μ̄ cancellation rounds them. ε_{L−k} is backprop's −δ_{L−k} from step k on, and
/// zero before: all of them after L − 1 steps.
template <std::floating_point T>
Matrix<T> fixed_prediction_errors(const PredictiveCoding<T>& net, ConstRef<T> s_ff, ConstRef<T> output_error,
                                  long steps) {
  const Index L = net.num_layers();
  Matrix<T> e = Matrix<T>::Zero(s_ff.rows(), s_ff.cols()), next;
  net.layer(e, L) = output_error;
  Matrix<T> d(s_ff.rows(), s_ff.cols());
  net.activation().d_rho(s_ff, d);
  for (long t = 0; t < steps; ++t) {
    next = e;
    for (Index k = 1; k < L; ++k)
      net.layer(next, k) = (net.layer(d, k).array() * (net.weight(k + 1).transpose() * net.layer(e, k + 1)).array()).matrix();
    e.swap(next);
  }
  return e;
}

/// The clamped phase of a free system: the output rows do not move (their ∂F/∂s is set to 0),
/// everything else relaxes on F. Like ClampedSystem (learning/contrastive_hebbian.hpp), but built
/// on an existing FreeSystem, whose cached input drive it reuses. Holds a reference to it.
template <EnergyModel M>
class OutputClamped {
 public:
  using Scalar = typename M::Scalar;
  explicit OutputClamped(const FreeSystem<M>& free) : free_(free), out_(free.model().output_block()) {}
  Index state_size() const { return free_.state_size(); }
  std::vector<Block> layer_blocks() const { return free_.layer_blocks(); }
  RowVector<Scalar> energy(ConstRef<Scalar> s) const { return free_.energy(s); }
  void gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const {
    free_.gradient(s, g);
    g.middleRows(out_.offset, out_.size).setZero();
  }
  bool projects() const { return free_.projects(); }
  void project(MutRef<Scalar> s) const { free_.project(s); }
  bool clip_range(double& lo, double& hi) const { return free_.clip_range(lo, hi); }

 private:
  const FreeSystem<M>& free_;
  Block out_;
};

/// The predictive-coding learning rule as an estimator of dJ/dθ (learning/estimator.hpp) for a
/// PredictiveCoding network. The free phase is the feed-forward pass (all ε = 0); then
/// - relaxed, clamped output (Whittington & Bogacz 2017): x_L = d, the hidden layers relax on F, and
///   \f[ \widehat{\frac{dJ}{d\theta}} = \Sigma_L \frac{\partial F}{\partial\theta}(x^{\text{clamped}})
///       = -\Sigma_L\, \varepsilon_l f(x_{l-1})^\top, \f]
///   i.e. −Σ_L times the local update ΔW_l = ε_l f(x_{l−1})ᵀ. With x_L = d the output term is
///   C(μ_L, d)/Σ_L for the squared error, so the clamped phase is EP with β = Σ_hidden/Σ_L on the
///   hidden energy: the error against backprop is O(Σ_hidden/Σ_L) (THEORY.md §5). Squared error only.
/// - relaxed, nudged output: F + βC, x_L free; the estimate (1/β)∂F/∂θ(x^β) (EP's one-sided one,
///   since ∂F/∂θ = 0 at the free fixed point); any cost.
/// - fixed_prediction: ε from fixed_prediction_errors() with ε_L = −∂C/∂y, and −ε_l f(x̄_{l−1})ᵀ with
///   the feed-forward rates: equal to backprop after L − 1 steps (any cost).
template <std::floating_point T, class C = SquaredError<T>>
class PredictiveCodingRule {
 public:
  explicit PredictiveCodingRule(PCOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const PCOptions& options() const { return options_; }

  /// See learning/estimator.hpp; `inference_state`, when given, receives the relaxed variant's
  /// clamped or nudged state (the feed-forward state for fixed prediction).
  EstimateSummary estimate(const PredictiveCoding<T>& net, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s,
                           VectorRef<T> grad, Index first_example = 0, Matrix<T>* inference_state = nullptr) const {
    detail::check_batch(net, x, target, s, grad.size());
    FreeSystem free(net, x);
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);
    const Index L = net.num_layers();
    const Block out = net.output_block();
    if (options_.variant == PCVariant::fixed_prediction) {
      const long steps = options_.steps > 0 ? options_.steps : long(L - 1);
      Matrix<T> dc(out.size, s.cols());
      cost_.gradient(s.middleRows(out.offset, out.size), target, dc);
      const Matrix<T> e = fixed_prediction_errors<T>(net, s, -dc, steps);
      net.param_gradient_from_errors(s, x, e, grad);
      RelaxSummary& r = summary.nudged_phase;
      r.method = Method::euler;
      r.steps_accepted = steps;
      // From step L − 1 on the errors no longer change: a fixed point of the frozen dynamics.
      r.termination = steps >= L - 1 ? Termination::converged : Termination::step_budget;
      r.examples = long(s.cols());
      if (inference_state) *inference_state = s;
      return summary;
    }
    // Both phases reuse the free system's μ₁ = W₁x + b₁ (the largest product), as does the update.
    Matrix<T> s_phase = s;
    if (options_.output == PCOutput::clamped) {
      s_phase.middleRows(out.offset, out.size) = target;
      const OutputClamped<PredictiveCoding<T>> clamped(free);
      summary.nudged_phase = relax(clamped, s_phase, options_.inference, first_example);
    } else {
      const NudgedSystem<PredictiveCoding<T>, C> nudged(free, target, T(options_.beta), cost_);
      summary.nudged_phase = relax(nudged, s_phase, options_.inference, first_example);
    }
    Matrix<T> e, a;
    net.errors_driven(s_phase, free.input_cache().drive, e, a);
    net.param_gradient_from_errors(s_phase, x, e, grad);  // ∂F/∂θ at the relaxed state
    if (options_.output == PCOutput::clamped) grad *= net.variance(L);
    else grad /= T(options_.beta);
    if (inference_state) *inference_state = std::move(s_phase);
    return summary;
  }

 private:
  PCOptions options_;
  C cost_;
};

}  // namespace ebm
