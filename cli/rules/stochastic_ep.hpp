#pragma once
/// \file
/// `estimator.kind = "stochastic_ep"` (learning/stochastic_ep.hpp): EP under Langevin dynamics.
/// The chains run relax.free's Langevin method (ula or mala) at its temperature and step: the free
/// chains estimator.burn_in steps from the caller's state, then the nudged chains from their end
/// beside them for estimator.burn_in + estimator.samples steps (EquilibriumProp's Langevin phases),
/// with noise seeded by data.seed.

#include "cli/config.hpp"
#include "learning/stochastic_ep.hpp"

namespace ebm::cli {

struct StochasticEPRule {
  static constexpr std::string_view name = "stochastic_ep";
  static constexpr std::string_view doc =
      "EP under Langevin dynamics: free and nudged chains (relax.free.method = ula or mala) sharing their noise";
  using Options = StochasticEPOptions;
  static constexpr bool langevin_phases = true;
  template <class M>
  static constexpr bool applies = EnergyModel<M>;

  static void check(const Options&, const RunConfig& c) {
    require<InvalidOptions>(is_langevin(c.relax_free.method), "relax.free.method = ",
                            to_string(c.relax_free.method),
                            ": estimator.kind = \"stochastic_ep\" samples its phases by Langevin dynamics; set "
                            "relax.free.method = \"ula\" or \"mala\" (with relax.free.temperature and dt)");
  }

  template <class M, class T = typename M::Scalar>
  static StochasticEP<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.langevin = langevin_options_of(c.relax_free, c.data.seed);
    return StochasticEP<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
