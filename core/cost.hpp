#pragma once
/// \file
/// Costs C(y, d) on the output units, the term that nudging adds: F = E + βC.

#include <cmath>
#include <concepts>

#include <array>
#include <string_view>
#include <utility>

#include "core/fields.hpp"
#include "core/types.hpp"

namespace ebm {

/// \f[ C(y, d) = \tfrac12 \lVert y - d \rVert^2, \qquad \partial C/\partial y = y - d. \f]
template <std::floating_point T>
struct SquaredError {
  using Scalar = T;
  RowVector<T> value(ConstRef<T> y, ConstRef<T> d) const {
    return T(0.5) * (y - d).colwise().squaredNorm();
  }
  void gradient(ConstRef<T> y, ConstRef<T> d, MutRef<T> g) const { g = y - d; }
};

/// Softmax readout with cross-entropy: the output states are logits.
/// \f[ C(y, d) = -\sum_i d_i \log \mathrm{softmax}(y)_i, \qquad \partial C/\partial y = \mathrm{softmax}(y) - d
/// \f] (in general \f$\partial C/\partial y = (\textstyle\sum_i d_i)\,\mathrm{softmax}(y) - d\f$).
template <std::floating_point T>
struct CrossEntropy {
  using Scalar = T;
  RowVector<T> value(ConstRef<T> y, ConstRef<T> d) const {
    RowVector<T> out(y.cols());
    for (Index j = 0; j < y.cols(); ++j) {
      const T m = y.col(j).maxCoeff();
      const T log_z = m + std::log((y.col(j).array() - m).exp().sum());
      out(j) = -(d.col(j).array() * (y.col(j).array() - log_z)).sum();
    }
    return out;
  }
  void gradient(ConstRef<T> y, ConstRef<T> d, MutRef<T> g) const {
    for (Index j = 0; j < y.cols(); ++j) {
      const T m = y.col(j).maxCoeff();
      g.col(j) = (y.col(j).array() - m).exp().matrix();
      g.col(j) /= g.col(j).sum();
      g.col(j) *= d.col(j).sum();  // general d: gradient is sum(d)·softmax(y) − d
      g.col(j) -= d.col(j);
    }
  }
};

/// The costs a configuration can name.
enum class CostKind { squared_error, cross_entropy };

template <>
struct EnumNames<CostKind> {
  static constexpr std::array<std::pair<CostKind, std::string_view>, 2> values{
      {{CostKind::squared_error, "squared_error"}, {CostKind::cross_entropy, "cross_entropy"}}};
};

/// A cost chosen at run time (the tool's estimator.cost): the same interface as SquaredError and
/// CrossEntropy, with one branch per call. Costs act on the output units only, so the branch is
/// noise next to a relaxation step, and every estimator and trainer is compiled once instead of
/// once per cost.
template <std::floating_point T>
struct AnyCost {
  using Scalar = T;
  CostKind kind = CostKind::squared_error;

  RowVector<T> value(ConstRef<T> y, ConstRef<T> d) const {
    return kind == CostKind::squared_error ? SquaredError<T>{}.value(y, d) : CrossEntropy<T>{}.value(y, d);
  }
  void gradient(ConstRef<T> y, ConstRef<T> d, MutRef<T> g) const {
    if (kind == CostKind::squared_error) SquaredError<T>{}.gradient(y, d, g);
    else CrossEntropy<T>{}.gradient(y, d, g);
  }
};

}  // namespace ebm
