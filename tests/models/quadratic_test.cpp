#include "models/quadratic.hpp"

#include <gtest/gtest.h>

#include "models/ornstein_uhlenbeck.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

TEST(Quadratic, DerivativesMatchFiniteDifferences) {
  const Quadratic<double> q(test::spd_matrix(4, 0.5, 3, 1), test::uniform_matrix(4, 1, -1, 1, 2));
  const Eigen::MatrixXd none(0, 3), s = test::uniform_matrix(4, 3, -2, 2, 3), v = test::uniform_matrix(4, 3, -1, 1, 4);
  Eigen::MatrixXd g(4, 3);
  q.state_gradient(s, none, g);
  EXPECT_LT(test::relative_error(g, test::central_difference([&](const Eigen::MatrixXd& z) { return q.energy(z, none).sum(); }, s)), 1e-8);
  Eigen::VectorXd gp(4);
  q.param_gradient(s, none, gp);
  Quadratic<double> moved = q;
  const Eigen::MatrixXd fd = test::central_difference(
      [&](const Eigen::MatrixXd& mu) {
        moved.params() = mu;
        return moved.energy(s, none).sum();
      },
      q.params());
  EXPECT_LT(test::relative_error(gp, fd), 1e-8);
  Eigen::MatrixXd hv(4, 3);
  q.hessian_vector(s, none, v, hv);
  EXPECT_LT(test::relative_error(hv, q.a() * v), 1e-15);
  Eigen::VectorXd mv(4);
  q.mixed_vector(s, none, v, mv);
  EXPECT_LT(test::relative_error(mv, -(q.a() * v.rowwise().sum()).eval()), 1e-15);
  EXPECT_EQ(q.energy(q.minimum(), Eigen::MatrixXd(0, 1))(0), 0.0);
}

TEST(Quadratic, RejectsMatricesThatAreNotSymmetricPositiveDefinite) {
  // Dynamic-size matrices: copying a fixed 2 × 2 into one makes GCC 12 warn (-Warray-bounds) about
  // a 512-bit load Eigen's AVX-512 path guards at run time.
  Eigen::MatrixXd a(2, 2);
  a << 1, 2, 2, 1;  // eigenvalues 3 and −1
  EXPECT_THROW(Quadratic<double>(a, Eigen::VectorXd::Zero(2)), InvalidOptions);
  a << 1, 0.5, 0, 1;
  EXPECT_THROW(Quadratic<double>(a, Eigen::VectorXd::Zero(2)), InvalidOptions);
  EXPECT_THROW(Quadratic<double>(Eigen::MatrixXd::Identity(2, 2), Eigen::VectorXd::Zero(3)), InvalidOptions);
}

TEST(OrnsteinUhlenbeck, UlaCovarianceSolvesTheDiscreteLyapunovEquation) {
  const Quadratic<double> q(test::spd_matrix(3, 0.5, 3, 5), Eigen::Vector3d::Zero());
  const OrnsteinUhlenbeck<double> ou(q, 0.7);
  const double h = 0.3;
  const Eigen::MatrixXd sigma = ou.ula_stationary_covariance(h);
  const Eigen::MatrixXd step = Eigen::MatrixXd::Identity(3, 3) - h * q.a();
  // Σ = (I − hA) Σ (I − hA)ᵀ + 2Th I: the law one Euler–Maruyama step leaves unchanged.
  EXPECT_LT((step * sigma * step.transpose() + 2 * 0.7 * h * Eigen::MatrixXd::Identity(3, 3) - sigma).norm(), 1e-12);
  // As h → 0 it tends to the Gibbs covariance T A⁻¹; the exact transition tends to it as t → ∞.
  EXPECT_LT((ou.ula_stationary_covariance(1e-9) - ou.stationary_covariance()).norm(), 1e-8);
  EXPECT_LT((ou.transition_covariance(200.0) - ou.stationary_covariance()).norm(), 1e-12);
}

}  // namespace
}  // namespace ebm
