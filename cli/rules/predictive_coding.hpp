#pragma once
/// \file
/// `estimator.kind = "predictive_coding"` (learning/predictive_coding.hpp), for a predictive_coding
/// model: the free phase is its feed-forward pass; the relaxed variant's inference phase (output
/// clamped or nudged) runs relax.nudged; the fixed-prediction variant runs estimator.steps
/// synchronous steps.

#include <type_traits>

#include "cli/config.hpp"
#include "learning/predictive_coding.hpp"

namespace ebm::cli {

template <class M>
inline constexpr bool is_predictive_coding = false;
template <class T>
inline constexpr bool is_predictive_coding<PredictiveCoding<T>> = true;

struct PCRule {
  static constexpr std::string_view name = "predictive_coding";
  static constexpr std::string_view doc =
      "predictive coding (Whittington & Bogacz 2017): relax with the output clamped (or nudged), then dW_l = "
      "eps_l f(x_(l-1))^T; or the fixed-prediction variant, backprop after L-1 steps";
  using Options = PCOptions;
  template <class M>
  static constexpr bool applies = is_predictive_coding<M>;

  static void check(const Options& o, const RunConfig& c) {
    require<InvalidOptions>(o.variant != PCVariant::relaxed || o.output != PCOutput::clamped ||
                                c.estimator.cost == CostKind::squared_error,
                            "estimator.output = \"clamped\" sets the output to the target, which is the squared "
                            "error; with estimator.cost = \"", enum_name(c.estimator.cost),
                            "\" use estimator.output = \"nudged\" or estimator.variant = \"fixed_prediction\"");
  }

  template <class M, class T = typename M::Scalar>
  static PredictiveCodingRule<T, AnyCost<T>> make(Options o, const RunConfig& c, const M&, AnyCost<T> cost) {
    o.free = c.relax_free;
    o.inference = c.relax_nudged;
    return PredictiveCodingRule<T, AnyCost<T>>(o, cost);
  }
};

}  // namespace ebm::cli
