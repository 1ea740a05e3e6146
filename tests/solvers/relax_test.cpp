#include "solvers/relax.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <unsupported/Eigen/MatrixFunctions>

#include "core/system.hpp"
#include "models/quadratic.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

Quadratic<double> make_quadratic(Index n = 5, double lo = 0.5, double hi = 4.0, std::uint64_t seed = 3) {
  return Quadratic<double>(test::spd_matrix(n, lo, hi, seed), test::uniform_matrix(n, 1, -1, 1, seed, 7));
}

const Eigen::MatrixXd kNoInput(0, 3);

class EveryMethod : public ::testing::TestWithParam<Method> {};

TEST_P(EveryMethod, ReachesTheAnalyticMinimumOfAQuadratic) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  RelaxOptions options;
  options.method = GetParam();
  options.dt = GetParam() == Method::fixed_point ? 0.2 : 0.1;
  options.grad_tol = 1e-10;
  const RelaxSummary summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::converged) << summary.full_report();
  EXPECT_LT(summary.final_grad_norm, 1e-10);
  for (Index j = 0; j < 3; ++j) EXPECT_LE((s.col(j) - q.minimum()).norm(), 1e-10 / 0.5);
}

TEST_P(EveryMethod, WorksInSinglePrecision) {
  const Quadratic<double> qd = make_quadratic();
  const Quadratic<float> q(qd.a().cast<float>(), qd.minimum().cast<float>());
  const Eigen::MatrixXf none(0, 2);
  FreeSystem sys(q, none);
  Eigen::MatrixXf s = test::uniform_matrix(5, 2, -2, 2, 9).cast<float>();
  RelaxOptions options;
  options.method = GetParam();
  options.dt = GetParam() == Method::fixed_point ? 0.2 : 0.1;
  options.grad_tol = 1e-4;
  options.abs_tol = 1e-6;
  options.rel_tol = 1e-5;
  EXPECT_TRUE(relax(sys, s, options).converged());
  for (Index j = 0; j < 2; ++j) EXPECT_LE((s.col(j) - q.minimum()).norm(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Solvers, EveryMethod,
                         ::testing::Values(Method::euler, Method::rk4, Method::dopri5, Method::fixed_point),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace ebm
