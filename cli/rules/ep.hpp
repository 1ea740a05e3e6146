#pragma once
/// \file
/// `estimator.kind = "ep"`: Equilibrium Propagation (learning/equilibrium_prop.hpp), free phase
/// relax.free, nudged phases relax.nudged; with relax.nudged.method = ula or mala the phases are
/// sampled (chains, burn-in, samples from [langevin], noise seeded by data.seed).

#include "cli/config.hpp"
#include "learning/equilibrium_prop.hpp"

namespace ebm::cli {

struct EPRule {
  static constexpr std::string_view name = "ep";
  static constexpr std::string_view doc =
      "Equilibrium Propagation (Scellier & Bengio 2017): one-sided, symmetric (Laborieux et al. 2021) or random-sign";
  using Options = EPOptions;
  static constexpr bool langevin_phases = true;
  template <class M>
  static constexpr bool applies = EnergyModel<M>;

  template <class M, class T = typename M::Scalar>
  static EquilibriumProp<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.free = c.relax_free;
    o.nudged = c.relax_nudged;
    o.seed = c.data.seed;
    o.langevin = c.langevin;
    o.langevin.seed = c.data.seed;
    return EquilibriumProp<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
