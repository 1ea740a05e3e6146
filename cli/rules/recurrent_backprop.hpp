#pragma once
/// \file
/// `estimator.kind = "recurrent_backprop"`: the exact gradient of the cost at the free fixed
/// point by implicit differentiation (learning/exact_gradient.hpp), the baseline EP approximates.

#include "cli/config.hpp"
#include "learning/exact_gradient.hpp"

namespace ebm::cli {

struct RecurrentBackpropRule {
  static constexpr std::string_view name = "recurrent_backprop";
  static constexpr std::string_view doc =
      "recurrent backprop (Almeida 1987, Pineda 1987): the exact gradient at the free fixed point by implicit "
      "differentiation; the baseline EP estimates";
  using Options = ExactGradientOptions;
  template <class M>
  static constexpr bool applies = EnergyModel<M> && HasSecondOrder<M>;

  template <class M, class T = typename M::Scalar>
  static ExactGradient<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.free = c.relax_free;
    return ExactGradient<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
