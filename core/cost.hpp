#pragma once
/// \file
/// Costs C(y, d) on the output units, the term that nudging adds: F = E + βC.

#include <cmath>
#include <concepts>

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

}  // namespace ebm
