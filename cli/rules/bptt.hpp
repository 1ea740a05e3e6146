#pragma once
/// \file
/// `estimator.kind = "bptt"`: backprop through estimator.steps Euler steps of step estimator.dt
/// taken after the free phase (learning/bptt.hpp); it tends to recurrent_backprop as steps grow.

#include "cli/config.hpp"
#include "learning/bptt.hpp"

namespace ebm::cli {

struct BpttRule {
  static constexpr std::string_view name = "bptt";
  static constexpr std::string_view doc =
      "truncated backprop through time: through K Euler steps after the free fixed point (Ernoult et al. 2019)";
  using Options = BpttOptions;
  /// Its unrolled steps are a fixed number by design, never "unconverged".
  static constexpr bool fixed_nudged_steps = true;
  template <class M>
  static constexpr bool applies = EnergyModel<M> && HasSecondOrder<M>;

  template <class M, class T = typename M::Scalar>
  static Bptt<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.free = c.relax_free;
    return Bptt<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
