#pragma once
/// \file
/// One phase of a learning rule, by whichever solver its method names: ebm::relax for the
/// deterministic methods, ebm::langevin for ula and mala (at RelaxOptions::temperature, step
/// `dt`, `max_steps` steps). The summary is a RelaxSummary either way, so that estimators,
/// trainers and the tool report both alike.

#include <cstdint>

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

/// Runs one phase on `s` (in place). `seed` and `first_example` seed the per-example noise
/// streams of a Langevin phase (bit-identical for any split of the batch); a deterministic phase
/// ignores the seed.
template <Relaxable Sys, class... Obs>
RelaxSummary run_phase(const Sys& sys, Matrix<typename Sys::Scalar>& s, const RelaxOptions& options,
                       Index first_example, std::uint64_t seed, Obs&... observers) {
  if (!is_langevin(options.method)) return relax(sys, s, options, first_example, observers...);
  const LangevinSummary l = langevin(sys, s, langevin_options_of(options, seed), first_example, observers...);
  RelaxSummary r;
  r.method = options.method;
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

}  // namespace ebm
