#pragma once
/// \file
/// Contrastive Hebbian learning (Movellan 1991): a free phase against a phase with the output
/// clamped to the target; and its γ-feedback form of Xie & Seung (2003), equivalent to backprop
/// as γ → 0.

#include <cmath>
#include <string>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "learning/langevin_phases.hpp"
#include "models/xie_seung.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// Options of ContrastiveHebbian.
struct CHLOptions {
  RelaxOptions free;     ///< the free relaxation, from the caller's state
  RelaxOptions clamped;  ///< the clamped relaxation, from the free fixed point with the output set to the target
  /// Xie–Seung feedback gain γ ∈ (0, 1] (XieSeungNetwork only; an energy model's feedback is its symmetric weights).
  double gamma = 1.0;
  /// Xie–Seung: scale layer k's update by γ^{k−L}, which makes it backprop's as γ → 0. Without it
  /// the lower layers' updates shrink as γ^{L−k}.
  bool layer_factor = true;
  /// When the clamped phase is Langevin (ula or mala): chains, burn-in, samples, thinning, shared
  /// noise (learning/langevin_phases.hpp). Then the estimate is Boltzmann learning's
  /// E_clamped[∂E/∂θ] − E_free[∂E/∂θ] = −T ∂log p(d)/∂θ (THEORY.md §7).
  LangevinPhaseOptions langevin{};

  /// The fields a configuration sets (γ is the Xie–Seung model's own option there).
  static constexpr auto fields() {
    return std::tuple{field("layer_factor", &CHLOptions::layer_factor,
                            "xie_seung: scale layer k's update by gamma^(k-L), which makes it backprop's as gamma -> 0")};
  }

  bool is_valid(std::string* why = nullptr) const {
    detail::Why bad{why};
    if (!detail::nested_valid(free, "chl.free", why)) return false;
    if (!detail::nested_valid(clamped, "chl.clamped", why)) return false;
    if (!langevin_pair(free, clamped, "chl", "clamped", why)) return false;
    if (!langevin.is_valid(why, "chl.langevin.")) return false;
    if (!pair_start_valid(free, langevin, "chl.langevin.", why)) return false;
    if (!(gamma > 0 && gamma <= 1)) return bad("chl.gamma must be in (0, 1], got ", gamma);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// The clamped phase of an energy model: the output rows are held (∂/∂s set to 0 there), the
/// other units relax on E. Holds references: the model and x must outlive it.
template <EnergyModel M>
class ClampedSystem {
 public:
  using Scalar = typename M::Scalar;
  ClampedSystem(const M& model, ConstRef<Scalar> x) : free_(model, x), out_(model.output_block()) {}
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
  /// The rows held fixed: a Langevin phase puts no noise there (it samples the other units'
  /// conditional law given the clamped output).
  Block frozen_rows() const { return out_; }

 private:
  FreeSystem<M> free_;
  Block out_;
};

/// Contrastive Hebbian learning. For an energy model,
/// \f[ \widehat{\frac{dJ}{d\theta}} = \frac{\partial E}{\partial\theta}(s^{\text{clamped}})
///     - \frac{\partial E}{\partial\theta}(s^0) = \frac{d}{d\theta}\big[E(s^{\text{clamped}}) - E(s^0)\big] \f]
/// (envelope theorem: both states are minima), i.e. gradient descent on the CHL objective
/// J_CHL = E(clamped) − E(free), not on the cost: the clamped phase is EP with β = ∞, without 1/β.
/// For a Hopfield energy, ΔW ∝ ρ(ŝ)ρ(ŝ)ᵀ − ρ(š)ρ(š)ᵀ.
///
/// For a XieSeungNetwork (Xie & Seung 2003), the phases run its γ-feedback dynamics and
/// \f[ \widehat{\frac{\partial C}{\partial W_k}} = -\gamma^{k-L}\big(\hat x_k \hat x_{k-1}^\top
///     - \check x_k \check x_{k-1}^\top\big) \f]
/// (hat: clamped, check: free), which tends to backprop's gradient as γ → 0.
template <std::floating_point T, class C = SquaredError<T>>
class ContrastiveHebbian {
 public:
  explicit ContrastiveHebbian(CHLOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const CHLOptions& options() const { return options_; }

  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    if (langevin()) {
      SampledPair<T> p;
      const EstimateSummary summary = sample(model, x, target, s, p, first_example);
      grad = (p.mean_a - p.mean_b) / T(options_.langevin.chains);
      return summary;
    }
    Matrix<T> clamped_state, free_state;
    const EstimateSummary summary = relax_pair(model, x, target, s, clamped_state, free_state, first_example);
    detail::param_gradient_difference(model, clamped_state, free_state, x, grad);
    return summary;
  }

  /// The relaxations of estimate() without the parameter gradient (see HebbianPairEstimator):
  /// s_a = the clamped fixed point, s_b = the free one (also left in `s`), divisor 1.
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary relax_pair(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, Matrix<T>& s_a,
                             Matrix<T>& s_b, Index first_example = 0) const {
    detail::check_batch(model, x, target, s, model.params().size());
    if (langevin()) {
      require<InvalidOptions>(has_pair(), "chl: a Langevin estimate averaging ", options_.langevin.draws(),
                              " samples per example is not one pair of states; call estimate()");
      SampledPair<T> p;
      const EstimateSummary summary = sample(model, x, target, s, p, first_example);
      s_a = std::move(p.last_a);
      s_b = std::move(p.last_b);
      return summary;
    }
    FreeSystem free(model, x);
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);
    s_a = clamped_phase(model, x, target, s, summary.nudged_phase, first_example);
    s_b = s;
    return summary;
  }
  double pair_divisor() const { return 1.0; }

  /// Whether the clamped phase is Langevin (Boltzmann learning: a difference of expectations).
  bool langevin() const { return is_langevin(options_.clamped.method); }
  /// Whether relax_pair() gives the estimate (not for Langevin phases averaging several samples).
  bool has_pair() const { return !langevin() || options_.langevin.draws() == 1; }

  /// The Langevin phases (learning/langevin_phases.hpp): the free phase, then the clamped chains
  /// (a: output rows held at the target, no noise there) beside the free chains continued (b).
  /// On return `s` is the chains' mean state at the end of the free phase.
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary sample(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, SampledPair<T>& p,
                         Index first_example = 0) const {
    const LangevinPhaseOptions& lp = options_.langevin;
    const LangevinChains<T> c = langevin_free_phase(model, x, target, s, options_.free, lp, first_example);
    FreeSystem free(model, c.x);
    ClampedSystem<M> clamped(model, c.x);
    Matrix<T> start = c.s;
    const Block out = model.output_block();
    start.middleRows(out.offset, out.size) = c.target;
    RelaxSummary to_fixed_point;
    const bool from_fixed_point = lp.start == PairStart::fixed_points;
    if (from_fixed_point) {
      // The clamped fixed point from the free one, relaxed once per example with the free phase's
      // deterministic method and copied to the chains.
      start = detail::relaxed_chains(ClampedSystem<M>(model, x), first_chain(start, lp.chains), options_.free,
                                     lp.chains, first_example, to_fixed_point);
    }
    p = sample_pair(model, c.x, clamped, free, std::move(start), c.s, options_.clamped, lp, first_example);
    EstimateSummary summary;
    summary.free_phase = c.free_phase;
    detail::append_phase(summary.free_phase, p.phase_b);
    summary.nudged_phase = from_fixed_point ? to_fixed_point : p.phase_a;
    if (from_fixed_point) detail::append_phase(summary.nudged_phase, p.phase_a);
    summary.free_phase.examples = summary.nudged_phase.examples = long(x.cols());
    s = chain_mean(c.s, lp.chains);
    detail::score_free_phase(model, s, target, cost_, summary);
    return summary;
  }

  /// The clamped fixed point reached from the free state `s`.
  template <EnergyModel M>
  Matrix<T> clamped_phase(const M& model, ConstRef<T> x, ConstRef<T> target, const Matrix<T>& s,
                          RelaxSummary& summary, Index first_example = 0) const {
    Matrix<T> clamped_state = s;
    const Block out = model.output_block();
    clamped_state.middleRows(out.offset, out.size) = target;
    ClampedSystem<M> clamped(model, x);
    summary = relax(clamped, clamped_state, options_.clamped, first_example);
    return clamped_state;
  }

  /// Xie–Seung CHL (see the class comment); the relaxations use options.free / options.clamped's
  /// dt, grad_tol and max_steps (Euler steps).
  EstimateSummary estimate(const XieSeungNetwork<T>& net, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s,
                           VectorRef<T> grad, Index /*first_example*/ = 0) const {
    detail::check_batch(net, x, target, s, grad.size());
    const T gamma = T(options_.gamma);
    EstimateSummary summary;
    auto note = [](RelaxSummary& r, const typename XieSeungNetwork<T>::Relaxation& x_relax, long examples) {
      r.method = Method::euler;
      r.steps_accepted = x_relax.steps;
      r.final_grad_norm = x_relax.residual;
      r.termination = x_relax.converged ? Termination::converged : Termination::step_budget;
      r.examples = examples;
    };
    note(summary.free_phase, net.relax(x, s, gamma, options_.free), long(s.cols()));
    detail::score_free_phase(net, s, target, cost_, summary);
    Matrix<T> hat = s;
    const Matrix<T> d = target;
    note(summary.nudged_phase, net.relax(x, hat, gamma, options_.clamped, &d), long(s.cols()));

    const Index L = net.num_layers();
    const auto& blocks = net.param_blocks();
    for (Index k = 1; k <= L; ++k) {
      const T scale = options_.layer_factor ? T(std::pow(double(gamma), double(k - L))) : T(1);
      const ParamBlock& wb = blocks[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      if (k == 1)
        gw = -scale * (net.layer(hat, 1) - net.layer(s, 1)) * x.transpose();
      else
        gw = -scale * (net.layer(hat, k) * net.layer(hat, k - 1).transpose() -
                       net.layer(s, k) * net.layer(s, k - 1).transpose());
      const ParamBlock& bb = blocks[std::size_t(L + k - 1)];
      grad.segment(bb.offset, bb.rows) = -scale * (net.layer(hat, k) - net.layer(s, k)).rowwise().sum();
    }
    return summary;
  }

 private:
  CHLOptions options_;
  C cost_;
};

}  // namespace ebm
