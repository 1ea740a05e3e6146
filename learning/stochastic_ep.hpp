#pragma once
/// \file
/// Equilibrium Propagation under Langevin dynamics: the states are samples, the cost is an
/// expectation, and the two phases must share their noise for the difference to be usable.

#include <cmath>
#include <cstdint>
#include <string>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "solvers/langevin.hpp"

namespace ebm {

/// Options of StochasticEP.
struct StochasticEPOptions {
  /// Temperature, step, method and seed of both phases' chains (`langevin.steps` is ignored:
  /// each chain runs burn_in + samples steps).
  LangevinOptions langevin;
  long burn_in = 2000;  ///< steps before averaging begins
  long samples = 2000;  ///< steps averaged over (every step)
  long chains = 16;     ///< independent chains per example
  double beta = 0.1;    ///< nudging strength β > 0
  /// Common random numbers: the nudged chains replay the free chains' noise (same seed, same
  /// start). Without it the difference of two noisy averages is divided by β and the variance
  /// explodes (THEORY.md §6: relative error 0.71 and 4.95 instead of 0.078 and 0.0066).
  bool shared_noise = true;

  /// The fields a configuration sets (the chains' Langevin settings come from the phase options).
  static constexpr auto fields() {
    using O = StochasticEPOptions;
    return std::tuple{
        field("beta", &O::beta, "nudging strength", positive),
        field("burn_in", &O::burn_in, "chain steps before averaging", non_negative),
        field("samples", &O::samples, "chain steps averaged over", positive),
        field("chains", &O::chains, "independent chains per example", positive),
        field("shared_noise", &O::shared_noise, "the nudged chains replay the free chains' noise (O(beta) bias)"),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    detail::Why bad{why};
    std::string inner;
    if (!langevin.is_valid(&inner)) return bad("stochastic_ep.", inner);
    if (burn_in < 0) return bad("stochastic_ep.burn_in must be ≥ 0, got ", burn_in);
    if (samples < 1) return bad("stochastic_ep.samples must be ≥ 1, got ", samples);
    if (chains < 1) return bad("stochastic_ep.chains must be ≥ 1, got ", chains);
    if (!(std::isfinite(beta) && beta > 0)) return bad("stochastic_ep.beta must be positive and finite, got ", beta);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

namespace detail {
/// Averages Σ_columns ∂E/∂θ (and the cost) over the steps after the burn-in.
template <class M, class C>
class ParamAverager {
 public:
  using T = typename M::Scalar;
  ParamAverager(const M& model, ConstRef<T> x, ConstRef<T> target, const C& cost, long burn_in)
      : model_(model), x_(x), target_(target), cost_(cost), burn_in_(burn_in),
        sum_(Vector<T>::Zero(model.params().size())), g_(model.params().size()) {}
  bool wants(long step, double) const { return step > burn_in_; }
  bool observe(const TracePoint<T>& p) {
    model_.param_gradient(*p.state, x_, g_);
    sum_ += g_;
    const Block out = model_.output_block();
    cost_sum_ += double(cost_.value(p.state->middleRows(out.offset, out.size), target_).sum());
    ++count_;
    return false;
  }
  Vector<T> mean() const { return sum_ / T(count_); }
  double mean_cost() const { return cost_sum_ / double(count_); }

 private:
  const M& model_;
  ConstRef<T> x_, target_;
  const C& cost_;
  long burn_in_;
  Vector<T> sum_, g_;
  double cost_sum_ = 0;
  long count_ = 0;
};
}  // namespace detail

/// Stochastic EP. With \f$ p^\beta \propto e^{-F/T} \f$, \f$ F = E + \beta C \f$, and J = E_{p⁰}[C]:
/// \f[ \frac{dJ}{d\theta} = -\tfrac1T\,\mathrm{Cov}_{p^0}\Big(C, \frac{\partial E}{\partial\theta}\Big)
///     = \lim_{\beta\to0}\frac1\beta\Big(\mathbb E_{p^\beta}\Big[\frac{\partial E}{\partial\theta}\Big]
///       - \mathbb E_{p^0}\Big[\frac{\partial E}{\partial\theta}\Big]\Big), \f]
/// each expectation a time and chain average of Langevin samples (Scellier & Bengio 2017, §6 discuss
/// the stochastic case). The nudged chains share the free chains' noise streams, so their
/// difference is O(β) sample by sample. Each example runs `chains` chains from the caller's state;
/// chain r of example e uses noise stream (first_example + e)·chains + r, so results do not depend
/// on how a batch is split. On return `s` holds the last free sample of each example's first chain.
template <std::floating_point T, class C = SquaredError<T>>
class StochasticEP {
 public:
  explicit StochasticEP(StochasticEPOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const StochasticEPOptions& options() const { return options_; }

  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    const Index r = options_.chains, batch = x.cols();
    Matrix<T> xr(x.rows(), batch * r), dr(target.rows(), batch * r), sf(s.rows(), batch * r);
    for (Index e = 0; e < batch; ++e)
      for (Index k = 0; k < r; ++k) {
        xr.col(e * r + k) = x.col(e);
        dr.col(e * r + k) = target.col(e);
        sf.col(e * r + k) = s.col(e);
      }
    Matrix<T> sb = sf;
    LangevinOptions lo = options_.langevin;
    lo.steps = options_.burn_in + options_.samples;
    const Index first_stream = first_example * r;

    FreeSystem free(model, xr);
    detail::ParamAverager<M, C> free_avg(model, xr, dr, cost_, options_.burn_in);
    const LangevinSummary fs = langevin(free, sf, lo, first_stream, free_avg);
    NudgedSystem<M, C> nudged(model, xr, dr, T(options_.beta), cost_);
    if (!options_.shared_noise) lo.seed = ~lo.seed;  // a different family of streams
    detail::ParamAverager<M, C> nudged_avg(model, xr, dr, cost_, options_.burn_in);
    const LangevinSummary ns = langevin(nudged, sb, lo, first_stream, nudged_avg);

    grad = (nudged_avg.mean() - free_avg.mean()) / (T(options_.beta) * T(r));
    for (Index e = 0; e < batch; ++e) s.col(e) = sf.col(e * r);

    EstimateSummary summary;
    auto note = [&](RelaxSummary& rs, const LangevinSummary& l) {
      rs.method = l.method == LangevinMethod::mala ? Method::mala : Method::ula;
      rs.termination = Termination::time_horizon;
      rs.proposals = l.proposals;
      rs.accepted = l.accepted;
      rs.steps_accepted = l.steps;
      rs.gradient_evaluations = l.gradient_evaluations;
      rs.t_final = l.t_final;
      rs.final_energy = l.final_energy;
      rs.wall_seconds = l.wall_seconds;
      rs.examples = long(batch);
    };
    note(summary.free_phase, fs);
    note(summary.nudged_phase, ns);
    summary.loss = free_avg.mean_cost() / double(r);  // Σ over the batch of the sampled E[C]
    summary.examples = long(batch);
    detail::score_free_phase(model, s, target, cost_, summary);  // accuracy from the returned samples
    summary.loss = free_avg.mean_cost() / double(r);
    return summary;
  }

 private:
  StochasticEPOptions options_;
  C cost_;
};

}  // namespace ebm
