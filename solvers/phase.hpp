#pragma once
/// \file
/// One phase of a learning rule, by whichever solver its method names: ebm::relax for the
/// deterministic methods, ebm::langevin for ula and mala (at RelaxOptions::temperature, step
/// `dt`, `max_steps` steps). The summary is a RelaxSummary either way, so that estimators,
/// trainers and the tool report both alike.

#include <chrono>
#include <cstdint>

#include "core/system.hpp"
#include "solvers/langevin.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// The Langevin options a phase's RelaxOptions stand for (method ula or mala).
inline LangevinOptions langevin_options_of(const RelaxOptions& o, std::uint64_t seed) {
  LangevinOptions l;
  l.method = o.method == Method::mala ? LangevinMethod::mala : LangevinMethod::ula;
  l.temperature = o.temperature;
  l.dt = o.dt;
  l.steps = o.max_steps;
  l.seed = seed;
  l.divergence_bound = o.divergence_bound;
  l.anneal = o.anneal;
  l.anneal_from = o.anneal_from;
  return l;
}

/// A Langevin run reported as a phase: its steps, evaluations, time, energy and MALA's acceptance.
inline RelaxSummary relax_summary_of(const LangevinSummary& l, Method method) {
  RelaxSummary r;
  r.method = method;
  r.termination = Termination::step_budget;  // a chain runs its steps; it has no tolerance to meet
  r.steps_accepted = l.steps;
  r.gradient_evaluations = l.gradient_evaluations;
  r.t_final = l.t_final;
  r.final_energy = l.final_energy;
  r.wall_seconds = l.wall_seconds;
  r.examples = l.examples;
  r.proposals = l.proposals;
  r.accepted = l.accepted;
  return r;
}

/// Runs one phase on `s` (in place). `seed` and `first_example` seed the per-example noise
/// streams of a Langevin phase (bit-identical for any split of the batch); a deterministic phase
/// ignores the seed.
template <Relaxable Sys, class... Obs>
RelaxSummary run_phase(const Sys& sys, Matrix<typename Sys::Scalar>& s, const RelaxOptions& options,
                       Index first_example, std::uint64_t seed, Obs&... observers) {
  if (!is_langevin(options.method)) return relax(sys, s, options, first_example, observers...);
  return relax_summary_of(langevin(sys, s, langevin_options_of(options, seed), first_example, observers...),
                          options.method);
}

/// The free phase of `free` on `s`: run_phase(), except for a model whose free fixed point is known in
/// closed form (HasFreeFixedPoint) under a deterministic method, where `s` is set to it and the
/// summary reports a converged relaxation of 0 steps with its residual (one gradient evaluation).
template <EnergyModel M, class... Obs>
RelaxSummary relax_free_phase(const FreeSystem<M>& free, Matrix<typename M::Scalar>& s, const RelaxOptions& options,
                              Index first_example, std::uint64_t seed, Obs&... observers) {
  if constexpr (HasFreeFixedPoint<M> && sizeof...(Obs) == 0) {
    if (!is_langevin(options.method)) {
      const auto start = std::chrono::steady_clock::now();
      free.model().free_fixed_point(free.input(), s);
      Matrix<typename M::Scalar> g(s.rows(), s.cols());
      free.gradient(s, g);
      RelaxSummary r;
      r.method = options.method;
      r.termination = Termination::converged;
      r.gradient_evaluations = 1;
      r.final_grad_norm = s.cols() > 0 ? double(g.colwise().norm().maxCoeff()) : 0.0;
      r.final_energy = s.cols() > 0 ? double(free.energy(s).mean()) : 0.0;
      r.examples = long(s.cols());
      r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return r;
    }
  }
  return run_phase(free, s, options, first_example, seed, observers...);
}

}  // namespace ebm
