#pragma once
/// \file
/// Numerical faults during training: what the trainer reports when a run goes wrong numerically
/// (a relaxation diverges, a gradient or an update is not finite, a relaxation misses its
/// tolerance), and the checks that find where — which parameter block and entry, which step.
///
/// A fault stops training before anything is written, so that the last checkpoint and
/// metrics.csv on disk are those of the last good epoch; `ebm train` exits with status 2.

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/magnitude_scan.hpp"
#include "core/types.hpp"

namespace ebm {

/// Training stopped on a numerical fault; the message says where (epoch, minibatch, optimizer
/// step, and the layer, unit or parameter involved) and what to change.
class TrainingFault : public Error {
 public:
  using Error::Error;
};

/// What a relaxation that stops on its step budget or time horizon before reaching its
/// tolerance (relax.*.grad_tol > 0) does during training. A fixed budget with grad_tol = 0 is
/// the intended stopping rule and never counts.
enum class OnUnconverged {
  warn,  ///< count it in metrics.csv and the epoch line, and go on (the default: short budgets are common in EP)
  fail,  ///< stop training with a TrainingFault
};

template <>
struct EnumNames<OnUnconverged> {
  static constexpr std::array<std::pair<OnUnconverged, std::string_view>, 2> values{
      {{OnUnconverged::warn, "warn"}, {OnUnconverged::fail, "fail"}}};
};

inline std::string_view to_string(OnUnconverged o) { return enum_name(o); }

inline OnUnconverged parse_on_unconverged(std::string_view s) {
  if (s == "warn") return OnUnconverged::warn;
  if (s == "fail") return OnUnconverged::fail;
  throw InvalidOptions("unknown on_unconverged '" + std::string(s) + "' (expected warn or fail)");
}

/// Empty when every entry of `v` is finite and within ±bound; otherwise names the first one that
/// is not by its parameter block and position, e.g. "W1[12, 3] = nan" (v laid out as `blocks`).
template <class V>
std::string describe_non_finite(const V& v, const std::vector<ParamBlock>& blocks,
                                double bound = std::numeric_limits<double>::infinity()) {
  // One vectorised pass in the common case (core/magnitude_scan.hpp); a NaN fails it too.
  using S = typename V::Scalar;
  if (all_within(v, magnitude_limit<S>(bound))) return {};
  for (Index i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i]) && std::abs(double(v[i])) <= bound) continue;
    std::ostringstream o;
    for (const ParamBlock& b : blocks)
      if (i >= b.offset && i < b.offset + b.size()) {
        const Index local = i - b.offset;  // blocks are column-major
        o << b.name;
        if (b.cols > 1) o << '[' << local % b.rows << ", " << local / b.rows << ']';
        else o << '[' << local << ']';
        o << " = " << v[i];
        return o.str();
      }
    o << "entry " << i << " = " << v[i];
    return o.str();
  }
  return {};
}

}  // namespace ebm
