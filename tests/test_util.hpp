#pragma once
// Helpers shared by the tests: random problems with known answers, finite differences.

#include <cmath>
#include <functional>

#include "core/random.hpp"
#include "core/types.hpp"

namespace ebm::test {

/// The input of a model without one (Quadratic) for a state of 3 columns: a system refers to its
/// input, so the tests share this one rather than a temporary.
inline const Eigen::MatrixXd kNoInput(0, 3);

/// Matrix with entries uniform in [lo, hi), reproducible from (seed, stream).
inline Eigen::MatrixXd uniform_matrix(Index rows, Index cols, double lo, double hi, std::uint64_t seed,
                                      std::uint64_t stream = 0) {
  Rng rng(seed, stream);
  Eigen::MatrixXd m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = lo + (hi - lo) * rng.uniform();
  return m;
}

/// Symmetric positive definite matrix with eigenvalues spread over [lo, hi].
inline Eigen::MatrixXd spd_matrix(Index n, double lo, double hi, std::uint64_t seed) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(uniform_matrix(n, n, -1, 1, seed));
  const Eigen::MatrixXd q = qr.householderQ();
  Eigen::VectorXd eig(n);
  for (Index i = 0; i < n; ++i) eig(i) = n == 1 ? lo : lo * std::pow(hi / lo, double(i) / double(n - 1));
  Eigen::MatrixXd a = q * eig.asDiagonal() * q.transpose();
  return 0.5 * (a + a.transpose());
}

/// Central finite differences of a scalar function of a matrix, entry by entry.
inline Eigen::MatrixXd central_difference(const std::function<double(const Eigen::MatrixXd&)>& f,
                                          const Eigen::MatrixXd& at, double h = 1e-6) {
  Eigen::MatrixXd grad(at.rows(), at.cols());
  Eigen::MatrixXd x = at;
  for (Index i = 0; i < at.size(); ++i) {
    const double keep = x.data()[i];
    x.data()[i] = keep + h;
    const double up = f(x);
    x.data()[i] = keep - h;
    const double down = f(x);
    x.data()[i] = keep;
    grad.data()[i] = (up - down) / (2 * h);
  }
  return grad;
}

/// ‖a − b‖ / ‖b‖.
template <class A, class B>
double relative_error(const A& a, const B& b) {
  return double((a - b).norm()) / double(b.norm());
}

}  // namespace ebm::test
