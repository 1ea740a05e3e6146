#pragma once
/// \file
/// `estimator.kind = "chl"`: contrastive Hebbian learning (learning/contrastive_hebbian.hpp),
/// free phase relax.free, clamped phase relax.nudged; on a xie_seung model, its γ-feedback rule.
/// With relax.nudged.method = ula or mala it is Boltzmann learning: clamped minus free
/// expectations, sampled by the chains of [langevin] (noise seeded by data.seed).

#include "cli/config.hpp"
#include "learning/contrastive_hebbian.hpp"

namespace ebm::cli {

struct CHLRule {
  static constexpr std::string_view name = "chl";
  static constexpr std::string_view doc =
      "contrastive Hebbian learning (Movellan 1991): free phase against output-clamped phase; Xie & Seung's "
      "gamma-feedback form on a xie_seung model";
  using Options = CHLOptions;
  static constexpr bool langevin_phases = true;
  template <class M>
  static constexpr bool applies = EnergyModel<M> || requires(const M& m) { m.gamma(); };

  template <class M, class T = typename M::Scalar>
  static ContrastiveHebbian<T, AnyCost<T>> make(Options o, const RunConfig& c, const M& model, AnyCost<T> cost) {
    o.free = c.relax_free;
    o.clamped = c.relax_nudged;
    o.langevin = c.langevin;
    o.langevin.seed = c.data.seed;
    if constexpr (requires { model.gamma(); }) o.gamma = model.gamma();  // the model's feedback gain
    return ContrastiveHebbian<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
