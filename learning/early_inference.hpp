#pragma once
/// \file
/// Early inference (Bengio & Fischer 2015): nudge the output at the free fixed point and read
/// the first steps of the resulting relaxation. The perturbation travels back one layer per step,
/// carrying backprop's error signal through the chain of local maps, and the Hebbian rule
/// ΔW_ij ∝ ρ(u_i) dρ(u_j)/dt accumulates a weight update from it.

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "learning/langevin_phases.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// Options of EarlyInference.
struct EarlyInferenceOptions {
  RelaxOptions free;  ///< the free relaxation (tight: the early steps start from its fixed point)
  double beta = 0.1;  ///< nudging strength β > 0; the signal is O(β), its bias O(β²)
  double dt = 0.5;    ///< step ε of the synchronous Euler steps after the nudge
  /// Steps after the nudge; 0 means one per free layer, the first moment every layer has moved
  /// (layer L−k first changes at step k+1).
  long steps = 0;
  /// The steps after the nudge: deterministic Euler steps unless `nudged.method` is ula or mala,
  /// then Langevin steps of size `dt` at `nudged.temperature` (Bengio & Fischer's setting: the
  /// early steps of Langevin MCMC from a stationary point), the nudged chains beside un-nudged
  /// chains (sharing their noise when langevin.shared_noise), the estimate read at the last step and
  /// averaged over langevin.chains chains (langevin.burn_in, samples and thinning do not apply).
  RelaxOptions nudged = [] {
    RelaxOptions o;
    o.method = Method::euler;
    return o;
  }();
  LangevinPhaseOptions langevin{};

  static constexpr auto fields() {
    using O = EarlyInferenceOptions;
    return std::tuple{
        field("beta", &O::beta, "nudging strength; the signal is O(beta), its bias O(beta^2)", positive),
        field("dt", &O::dt, "step of the synchronous Euler steps after the nudge", positive),
        field("steps", &O::steps, "Euler steps after the nudge (0 = one per layer)", non_negative),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    if (!detail::nested_valid(free, "early.free", why)) return false;
    if (!langevin_pair(free, nudged, "early_inference", "nudged", why)) return false;
    if (!langevin.is_valid(why, "early.langevin.")) return false;
    if (langevin.start != PairStart::free_end) {
      if (why)
        *why = "early.langevin.start = " + std::string(enum_name(langevin.start)) +
               ": early inference's chains start from the free fixed point by definition (free_end)";
      return false;
    }
    return check_fields(*this, "early.", why);
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// The early steps after the nudge, as differences from the un-nudged steps.
template <class T>
struct EarlyTrajectory {
  std::vector<Matrix<T>> nudged;  ///< s^β_t, t = 0…steps (s^β_0 = s⁰)
  std::vector<Matrix<T>> free;    ///< s⁰_t: the same Euler steps with β = 0
  /// δ_t = s^β_t − s⁰_t. Subtracting the un-nudged steps cancels the fixed point's residual, so a
  /// layer the nudge has not reached has δ exactly zero.
  Matrix<T> delta(std::size_t t) const { return nudged[t] - free[t]; }
};

/// Synchronous Euler steps s ← s − ε ∂F/∂s from the free fixed point `s0`, with (β) and without
/// (β = 0) the nudge.
template <EnergyModel M, class C = SquaredError<typename M::Scalar>>
EarlyTrajectory<typename M::Scalar> early_trajectory(const M& model, ConstRef<typename M::Scalar> x,
                                                     ConstRef<typename M::Scalar> target,
                                                     const Matrix<typename M::Scalar>& s0, double beta, double dt,
                                                     long steps, const C& cost = C{}) {
  using T = typename M::Scalar;
  EarlyTrajectory<T> out;
  NudgedSystem<M, C> nudged(model, x, target, T(beta), cost);
  FreeSystem<M> free(model, x);
  Matrix<T> sb = s0, sf = s0, g(s0.rows(), s0.cols());
  out.nudged.push_back(sb);
  out.free.push_back(sf);
  for (long t = 0; t < steps; ++t) {
    nudged.gradient(sb, g);
    sb -= T(dt) * g;
    nudged.project(sb);
    free.gradient(sf, g);
    sf -= T(dt) * g;
    free.project(sf);
    out.nudged.push_back(sb);
    out.free.push_back(sf);
  }
  return out;
}

/// The Hebbian accumulation of Bengio & Fischer on a layered Hopfield trajectory: for each W_k,
/// \f[ A_k = \sum_t \big(\bar\rho_k\,\Delta\rho_{k-1}^\top + \Delta\rho_k\,\bar\rho_{k-1}^\top\big), \f]
/// \f$\bar\rho = (\rho(s_t) + \rho(s_{t+1}))/2\f$, \f$\Delta\rho = \rho(s_{t+1}) - \rho(s_t)\f$: the midpoint rule
/// for ∫ ρ_i dρ_j/dt + ρ̇_i ρ_j dt, which telescopes exactly to ρ(s_T)ρ(s_T)ᵀ − ρ(s_0)ρ(s_0)ᵀ; biases
/// accumulate Δρ_k. Returned with the sign of ∂E/∂θ differences (−A), laid out as the parameters.
template <std::floating_point T>
Vector<T> hebbian_accumulation(const LayeredHopfield<T>& net, std::type_identity_t<ConstRef<T>> x,
                               const std::vector<Matrix<T>>& states) {
  Vector<T> acc = Vector<T>::Zero(net.params().size());
  const Index L = net.num_layers();
  const auto& blocks = net.param_blocks();
  Matrix<T> r0(net.state_size(), x.cols()), r1(net.state_size(), x.cols());
  for (std::size_t t = 0; t + 1 < states.size(); ++t) {
    net.activation().rho(states[t], r0);
    net.activation().rho(states[t + 1], r1);
    const Matrix<T> mid = T(0.5) * (r0 + r1), diff = r1 - r0;
    for (Index k = 1; k <= L; ++k) {
      const ParamBlock& wb = blocks[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> a(acc.data() + wb.offset, wb.rows, wb.cols);
      if (k == 1)
        a.noalias() -= net.layer(diff, 1) * x.transpose();  // the input is clamped: Δx = 0
      else
        a.noalias() -= net.layer(mid, k) * net.layer(diff, k - 1).transpose() +
                       net.layer(diff, k) * net.layer(mid, k - 1).transpose();
      acc.segment(blocks[std::size_t(L + k - 1)].offset, wb.rows) -= net.layer(diff, k).rowwise().sum();
    }
  }
  return acc;
}

/// Early inference as an estimator:
/// \f[ \widehat{\frac{dJ}{d\theta}} = \frac1\beta\Big[\frac{\partial E}{\partial\theta}(s^\beta_T)
///     - \frac{\partial E}{\partial\theta}(s^0_T)\Big] \f]
/// after T early steps (s⁰_T the un-nudged steps, equal to the free fixed point up to its residual).
/// For the Hopfield energy this is exactly the accumulated Hebbian rule of hebbian_accumulation()
/// divided by β. It is EP stopped early: as T grows it tends to EP's one-sided estimate; after a
/// few steps it carries the chain-rule signal g (not yet the recurrent gradient λ; THEORY.md §2).
template <std::floating_point T, class C = SquaredError<T>>
class EarlyInference {
 public:
  explicit EarlyInference(EarlyInferenceOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const EarlyInferenceOptions& options() const { return options_; }

  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    const long steps = options_.steps > 0 ? options_.steps : long(model.layer_blocks().size());
    if (is_langevin(options_.nudged.method)) {
      SampledPair<T> p;
      const EstimateSummary summary = sample(model, x, target, s, p, first_example);
      grad = (p.mean_a - p.mean_b) / T(options_.beta * double(options_.langevin.chains));
      return summary;
    }
    FreeSystem free(model, x);
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);
    const auto traj = early_trajectory(model, x, target, s, options_.beta, options_.dt, steps, cost_);
    detail::param_gradient_difference(model, traj.nudged.back(), traj.free.back(), x, grad);
    grad /= T(options_.beta);
    summary.nudged_phase.method = Method::euler;
    summary.nudged_phase.steps_accepted = steps;
    summary.nudged_phase.t_final = double(steps) * options_.dt;
    summary.nudged_phase.termination = Termination::time_horizon;
    summary.nudged_phase.examples = long(s.cols());
    return summary;
  }

  /// The Langevin early steps: the free phase (deterministic or Langevin), then from its end the
  /// nudged chains (a) beside the un-nudged ones (b), `steps` steps of size `dt`, read at the last
  /// step. On return `s` is the chains' mean state at the end of the free phase.
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary sample(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, SampledPair<T>& p,
                         Index first_example = 0) const {
    const long steps = options_.steps > 0 ? options_.steps : long(model.layer_blocks().size());
    LangevinPhaseOptions lp = options_.langevin;
    lp.burn_in = steps - 1;
    lp.samples = 1;
    lp.thinning = 1;
    RelaxOptions phase = options_.nudged;
    phase.dt = options_.dt;
    const LangevinChains<T> c = langevin_free_phase(model, x, target, s, options_.free, lp, first_example);
    FreeSystem free(model, c.x);
    NudgedSystem<M, C> nudged(model, c.x, c.target, T(options_.beta), cost_);
    p = sample_pair(model, c.x, nudged, free, c.s, c.s, phase, lp, first_example);
    EstimateSummary summary;
    summary.free_phase = c.free_phase;
    summary.nudged_phase = p.phase_a;
    summary.free_phase.examples = summary.nudged_phase.examples = long(x.cols());
    s = chain_mean(c.s, lp.chains);
    detail::score_free_phase(model, s, target, cost_, summary);
    return summary;
  }

 private:
  EarlyInferenceOptions options_;
  C cost_;
};

}  // namespace ebm
