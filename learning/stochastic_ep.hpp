#pragma once
/// \file
/// Stochastic EP: Equilibrium Propagation under Langevin dynamics, configured by the chains'
/// sampler alone. It runs EquilibriumProp's Langevin phases (learning/langevin_phases.hpp): the
/// free chains burn in from the caller's state, then the nudged chains start from where the free
/// chains ended and run beside them, sharing their noise.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "learning/common.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/estimator.hpp"
#include "solvers/langevin.hpp"

namespace ebm {

/// Options of StochasticEP.
struct StochasticEPOptions {
  /// Method (ula or mala), temperature, step, annealing and seed of the chains (`langevin.steps`
  /// is ignored: the phases' lengths come from burn_in and samples).
  LangevinOptions langevin;
  /// Steps of the free chains from the caller's state (annealed when `langevin.anneal` is set),
  /// and again steps of the nudged pair before its first sample.
  long burn_in = 2000;
  long samples = 2000;  ///< steps of the pair averaged over (every step)
  long chains = 16;     ///< independent chains per example
  double beta = 0.1;    ///< nudging strength β > 0
  /// Common random numbers: the nudged chains replay the free chains' noise. Without it the
  /// difference of two noisy averages is divided by β and the variance explodes (THEORY.md §6:
  /// relative error 0.71 and 4.95 instead of 0.078 and 0.0066).
  bool shared_noise = true;

  /// The fields a configuration sets (the chains' Langevin settings come from the phase options).
  static constexpr auto fields() {
    using O = StochasticEPOptions;
    return std::tuple{
        field("beta", &O::beta, "nudging strength", positive),
        field("burn_in", &O::burn_in, "steps of the free chains, and of the nudged pair before averaging", positive),
        field("samples", &O::samples, "chain steps averaged over", positive),
        field("chains", &O::chains, "independent chains per example", positive),
        field("shared_noise", &O::shared_noise, "the nudged chains replay the free chains' noise (O(beta) bias)"),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    detail::Why bad{why};
    std::string inner;
    if (!langevin.is_valid(&inner)) return bad("stochastic_ep.", inner);
    if (burn_in < 1) return bad("stochastic_ep.burn_in must be ≥ 1, got ", burn_in);
    if (samples < 1) return bad("stochastic_ep.samples must be ≥ 1, got ", samples);
    if (chains < 1) return bad("stochastic_ep.chains must be ≥ 1, got ", chains);
    if (langevin.antithetic && chains % 2 != 0)
      return bad("stochastic_ep.chains must be even for antithetic chains, got ", chains);
    if (!(std::isfinite(beta) && beta > 0)) return bad("stochastic_ep.beta must be positive and finite, got ", beta);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }

  /// The same estimate as EquilibriumProp's options: one-sided EP whose free phase is `burn_in`
  /// steps of the chains' sampler and whose nudged pair runs `burn_in + samples` steps at the
  /// final temperature, ∂E/∂θ averaged at every step after its burn-in.
  EPOptions ep_options() const {
    validate();
    RelaxOptions phase;
    phase.method = langevin.method == LangevinMethod::mala ? Method::mala : Method::ula;
    phase.temperature = langevin.temperature;
    phase.dt = langevin.dt;
    phase.divergence_bound = langevin.divergence_bound;
    EPOptions ep;
    ep.free = phase;
    ep.free.max_steps = burn_in;
    ep.free.anneal = langevin.anneal;
    ep.free.anneal_from = langevin.anneal_from;
    ep.nudged = phase;  // the pair's length is langevin.burn_in + samples (below), not max_steps
    ep.beta = beta;
    ep.variant = EPVariant::one_sided;
    ep.langevin.chains = chains;
    ep.langevin.burn_in = burn_in;
    ep.langevin.samples = samples;
    ep.langevin.thinning = 1;
    ep.langevin.shared_noise = shared_noise;
    ep.langevin.antithetic = langevin.antithetic;
    ep.langevin.seed = langevin.seed;
    return ep;
  }
};

/// Stochastic EP. With \f$ p^\beta \propto e^{-F/T} \f$, \f$ F = E + \beta C \f$, and J = E_{p⁰}[C]:
/// \f[ \frac{dJ}{d\theta} = -\tfrac1T\,\mathrm{Cov}_{p^0}\Big(C, \frac{\partial E}{\partial\theta}\Big)
///     = \lim_{\beta\to0}\frac1\beta\Big(\mathbb E_{p^\beta}\Big[\frac{\partial E}{\partial\theta}\Big]
///       - \mathbb E_{p^0}\Big[\frac{\partial E}{\partial\theta}\Big]\Big), \f]
/// each expectation a time and chain average of Langevin samples (Scellier & Bengio 2017, §6 discuss
/// the stochastic case). It is EquilibriumProp with the Langevin phases of
/// StochasticEPOptions::ep_options(), bit for bit: the nudged chains start from the free chains'
/// end (started together from the caller's state, near a saddle, a nudged chain and its free twin
/// can fall into different basins), and their noise streams follow (seed, example, chain), so
/// results do not depend on how a batch is split. On return `s` is the mean over each example's
/// chains of their state at the end of the free phase.
template <std::floating_point T, class C = SquaredError<T>>
class StochasticEP {
 public:
  explicit StochasticEP(StochasticEPOptions options = {}, C cost = C{})
      : options_(std::move(options)), ep_(options_.ep_options(), cost) {}
  const StochasticEPOptions& options() const { return options_; }

  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    return ep_.estimate(model, x, target, s, grad, first_example);
  }

 private:
  StochasticEPOptions options_;
  EquilibriumProp<T, C> ep_;
};

}  // namespace ebm
