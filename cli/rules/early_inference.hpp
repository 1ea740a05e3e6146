#pragma once
/// \file
/// `estimator.kind = "early_inference"` (learning/early_inference.hpp): free phase relax.free,
/// then estimator.steps synchronous Euler steps after the nudge; with relax.nudged.method = ula
/// or mala, Langevin steps of size estimator.dt at relax.nudged.temperature, the nudged chains
/// beside un-nudged ones sharing their noise, averaged over [langevin] chains (otherwise
/// relax.nudged is not used).

#include "cli/config.hpp"
#include "learning/early_inference.hpp"

namespace ebm::cli {

struct EarlyInferenceRule {
  static constexpr std::string_view name = "early_inference";
  static constexpr std::string_view doc =
      "early inference (Bengio & Fischer 2015): the first Euler steps after nudging the output carry the error";
  using Options = EarlyInferenceOptions;
  /// Its nudged phase is a fixed number of steps by design, never "unconverged".
  static constexpr bool fixed_nudged_steps = true;
  static constexpr bool langevin_phases = true;
  template <class M>
  static constexpr bool applies = EnergyModel<M>;

  template <class M, class T = typename M::Scalar>
  static EarlyInference<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.free = c.relax_free;
    if (is_langevin(c.relax_nudged.method)) o.nudged = c.relax_nudged;
    o.langevin = c.langevin;
    o.langevin.seed = c.data.seed;
    return EarlyInference<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
