#pragma once
/// \file
/// What a relaxation reports about itself.

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

#include "solvers/relax_options.hpp"

namespace ebm {

/// Why a relaxation stopped.
enum class Termination {
  converged,            ///< every example reached ‖∂F/∂s‖ < grad_tol
  time_horizon,         ///< t reached t_max
  step_budget,          ///< max_steps tries were made
  diverged,             ///< the state became non-finite or exceeded divergence_bound
  stopped_by_observer,  ///< an observer asked to stop
  stalled,              ///< the residual stopped falling (RelaxOptions::stall_steps)
};

inline std::string_view to_string(Termination t) {
  switch (t) {
    case Termination::converged: return "converged";
    case Termination::time_horizon: return "time horizon reached";
    case Termination::step_budget: return "step budget exhausted";
    case Termination::stalled: return "stalled (the residual stopped falling)";
    case Termination::diverged: return "diverged";
    case Termination::stopped_by_observer: return "stopped by observer";
  }
  return "?";
}

/// The summary of one relaxation (or of a batch relaxed in chunks, merged).
struct RelaxSummary {
  Method method = Method::rk4;
  Termination termination = Termination::step_budget;
  long steps_accepted = 0;
  long steps_rejected = 0;
  long gradient_evaluations = 0;
  double t_final = 0.0;
  /// Largest ‖∂F/∂s‖₂ over the examples at the final state.
  double final_grad_norm = 0.0;
  /// Mean over the examples of F at the final state.
  double final_energy = 0.0;
  double wall_seconds = 0.0;
  /// Number of examples (columns) the summary covers.
  long examples = 0;
  /// Number of separately relaxed chunks merged into this summary; the step counts add up over them.
  long chunks = 1;
  /// For a divergence: where it happened.
  std::string message;
  /// MALA phases: proposals made and accepted (0 for the other methods).
  long proposals = 0;
  long accepted = 0;
  double acceptance_rate() const { return proposals ? double(accepted) / double(proposals) : 1.0; }

  bool converged() const { return termination == Termination::converged; }

  /// Folds the summary of another chunk of the same batch into this one: counts add up,
  /// the worst termination and the largest gradient norm win, energies average by examples.
  void merge(const RelaxSummary& o) {
    auto rank = [](Termination t) {
      switch (t) {
        case Termination::converged: return 0;
        case Termination::stopped_by_observer: return 1;
        case Termination::time_horizon: return 2;
        case Termination::stalled: return 3;
        case Termination::step_budget: return 4;
        case Termination::diverged: return 5;
      }
      return 5;
    };
    if (examples == 0) {
      *this = o;
      return;
    }
    if (rank(o.termination) > rank(termination)) {
      termination = o.termination;
      if (!o.message.empty()) message = o.message;
    }
    steps_accepted += o.steps_accepted;
    steps_rejected += o.steps_rejected;
    gradient_evaluations += o.gradient_evaluations;
    t_final = std::max(t_final, o.t_final);
    final_grad_norm = std::max(final_grad_norm, o.final_grad_norm);
    final_energy = (final_energy * double(examples) + o.final_energy * double(o.examples)) /
                   double(examples + o.examples);
    wall_seconds += o.wall_seconds;
    examples += o.examples;
    chunks += o.chunks;
    proposals += o.proposals;
    accepted += o.accepted;
  }

  /// One line: method, why it stopped, steps, final gradient norm and energy.
  std::string brief_report() const {
    char buf[320];
    char in_chunks[64] = "";
    if (chunks > 1) std::snprintf(in_chunks, sizeof in_chunks, " in %ld chunks", chunks);
    std::snprintf(buf, sizeof buf, "%s: %s after %ld steps%s (%ld rejected), t = %.4g, max |dF/ds| = %.3e, F = %.6g",
                  std::string(to_string(method)).c_str(), std::string(to_string(termination)).c_str(),
                  steps_accepted, in_chunks, steps_rejected, t_final, final_grad_norm, final_energy);
    if (proposals > 0) return std::string(buf) + ", acceptance " + std::to_string(acceptance_rate());
    return buf;
  }

  /// Every field, one per line.
  std::string full_report() const {
    std::ostringstream o;
    o << "Relaxation summary\n"
      << "  method                " << to_string(method) << '\n'
      << "  termination           " << to_string(termination) << '\n'
      << "  examples              " << examples << '\n'
      << "  chunks                " << chunks << '\n'
      << "  steps accepted        " << steps_accepted << '\n'
      << "  steps rejected        " << steps_rejected << '\n'
      << "  gradient evaluations  " << gradient_evaluations << '\n'
      << "  final time            " << t_final << '\n'
      << "  final max |dF/ds|     " << final_grad_norm << '\n'
      << "  final mean energy     " << final_energy << '\n'
      << "  wall time (s)         " << wall_seconds << '\n';
    if (!message.empty()) o << "  message               " << message << '\n';
    return o.str();
  }
};

}  // namespace ebm
