#include "learning/exact_gradient.hpp"

#include <gtest/gtest.h>

#include "learning_util.hpp"
#include "models/quadratic.hpp"

namespace ebm {
namespace {

static_assert(Estimator<ExactGradient<double>, LayeredHopfield<double>>);

// Ground truth independent of any adjoint: central differences of J(θ) = Σ C(s*(θ), d), where
// every evaluation re-relaxes the free phase from a warm start to ‖∂E/∂s‖ < 1e-13.
TEST(ExactGradient, MatchesFiniteDifferencesOfTheRelaxedCost) {
  for (std::uint64_t seed : {7u, 11u}) {
    test::SmallProblem p({3, 5, 4, 2}, 3, seed);
    const Eigen::MatrixXd s0 = p.free_state();
    ExactGradient<double> exact;
    Eigen::MatrixXd s = s0;
    Eigen::VectorXd grad(p.net.params().size());
    const EstimateSummary summary = exact.estimate(p.net, p.x, p.d, s, grad);
    EXPECT_TRUE(summary.free_phase.converged());
    EXPECT_EQ(summary.examples, 3);

    const RelaxOptions tight = test::tight_relax(1e-13);
    const Eigen::VectorXd theta = p.net.params();
    const Eigen::MatrixXd fd = test::central_difference(
        [&](const Eigen::MatrixXd& th) {
          p.net.params() = th;
          Eigen::MatrixXd sw = s0;
          FreeSystem sys(p.net, p.x);
          relax(sys, sw, tight);
          const Block out = p.net.output_block();
          return SquaredError<double>{}.value(sw.middleRows(out.offset, out.size), p.d).sum();
        },
        theta, 1e-6);
    p.net.params() = theta;
    const double err = test::relative_error(grad, fd);
    test::report("exact vs finite differences, seed " + std::to_string(seed), err);
    EXPECT_LE(err, 1e-6) << "seed " << seed;
  }
}

TEST(ExactGradient, DenseAndConjugateGradientAgree) {
  test::SmallProblem p({3, 6, 5, 2}, 5, 3);
  const Eigen::MatrixXd s = p.free_state();
  ExactGradientOptions cg, dense;
  dense.solver = AdjointSolver::dense;
  const auto a = implicit_gradient(p.net, s, p.x, p.d, cg);
  const auto b = implicit_gradient(p.net, s, p.x, p.d, dense);
  EXPECT_LE(test::relative_error(a.lambda, b.lambda), 1e-11);
  EXPECT_LE(test::relative_error(a.grad, b.grad), 1e-11);
}

// A quadratic energy has s* = μ, so J(μ) = ½‖μ_out − d‖² and dJ/dμ is known in closed form.
// Float cannot reach the default cg_tol (1e-13): the solver floors it at 1000 ulps instead of
// iterating on rounding noise until a spurious negative curvature stops training (what a float
// recurrent-backprop run on Fashion-MNIST did). The float solution agrees with the double one to
// the floored tolerance's order.
// The hard sigmoid clips states to [0, 1]; a unit held at a bound does not move with θ. The
// implicit gradient (the Hessian restricted to the other units) matches central differences of
// the relaxed cost, on a network whose weights are large enough that many units saturate.
TEST(ExactGradient, HardSigmoidUnitsAtTheirBoundsAreHeld) {
  test::SmallProblem p({6, 12, 8, 3}, 4, 3, Activation::Kind::hard_sigmoid);
  p.net.init_glorot(3, 1.0);  // weights large enough that some units saturate
  for (Index k = 1; k <= p.net.num_layers(); ++k)
    p.net.bias(k) = test::uniform_matrix(p.net.bias(k).size(), 1, 0.2, 0.8, 3, 10 + std::uint64_t(k));
  RelaxOptions tight = test::tight_relax(1e-12);
  tight.method = Method::euler;  // the clipped model takes euler or fixed_point; gradient flow finds a minimum
  tight.dt = 0.5;
  const Eigen::MatrixXd s0 = p.free_state(tight);
  const Index at_bounds = ((s0.array() <= 0) || (s0.array() >= 1)).count();
  test::report("hard-sigmoid units at a bound", double(at_bounds));
  ASSERT_GE(at_bounds, 10);
  ASSERT_LE(at_bounds, s0.size() - 20);
  const Block out = p.net.output_block();
  const Eigen::VectorXd theta = p.net.params();
  auto cost = [&](const Eigen::VectorXd& th) {
    p.net.params() = th;
    Eigen::MatrixXd sw = s0;
    FreeSystem sys(p.net, p.x);
    relax(sys, sw, tight);
    return SquaredError<double>{}.value(sw.middleRows(out.offset, out.size), p.d).sum();
  };
  // h = 1e-6: truncation O(h²) and the relaxation's residual over h (1e-6) are far below the O(1)
  // error of counting the held units as free.
  const Eigen::MatrixXd fd = test::central_difference([&](const Eigen::MatrixXd& th) { return cost(th); }, theta, 1e-6);
  p.net.params() = theta;
  for (AdjointSolver solver : {AdjointSolver::conjugate_gradient, AdjointSolver::dense}) {
    ExactGradientOptions o;
    o.solver = solver;
    const auto g = implicit_gradient(p.net, s0, p.x, p.d, o);
    ASSERT_GT(fd.norm(), 1e-3);
    const double err = test::relative_error(g.grad, fd);
    test::report("hard-sigmoid exact vs finite differences", err);
    EXPECT_LT(err, 1e-4);
  }
}

TEST(ExactGradient, FloatAdjointSolveMeetsAFlooredTolerance) {
  test::SmallProblem p({30, 40, 20, 10}, 6, 5);
  const Eigen::MatrixXd s = p.free_state();
  const Eigen::MatrixXd rhs = test::uniform_matrix(p.net.state_size(), 6, -1, 1, 5, 9);
  const Eigen::MatrixXd exact = solve_adjoint(p.net, s, p.x, rhs);
  LayeredHopfield<float> net(p.net.sizes(), p.net.activation());
  net.params() = p.net.params().cast<float>();
  const ExactGradientOptions defaults;
  ASSERT_LT(defaults.cg_tol, 1e-10);
  Eigen::MatrixXf lambda;
  ASSERT_NO_THROW(lambda = solve_adjoint(net, Eigen::MatrixXf(s.cast<float>()), Eigen::MatrixXf(p.x.cast<float>()),
                                         Eigen::MatrixXf(rhs.cast<float>()), defaults));
  const double err = (lambda.cast<double>() - exact).norm() / exact.norm();
  test::report("float adjoint vs double", err);
  EXPECT_LT(err, 1e-3);
}

TEST(ExactGradient, QuadraticEnergyHasTheAnalyticGradient) {
  const Eigen::MatrixXd a = test::spd_matrix(6, 0.5, 4.0, 9);
  const Eigen::VectorXd mu = test::uniform_matrix(6, 1, -1, 1, 9, 1);
  Quadratic<double> q(a, mu, 2);
  const Eigen::MatrixXd x(0, 3);
  const Eigen::MatrixXd d = test::uniform_matrix(2, 3, -1, 1, 9, 2);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(6, 3);
  Eigen::VectorXd grad(6);
  ExactGradient<double>().estimate(q, x, d, s, grad);
  Eigen::VectorXd expected = Eigen::VectorXd::Zero(6);
  for (Index j = 0; j < 3; ++j) expected.tail(2) += mu.tail(2) - d.col(j);
  EXPECT_LE(test::relative_error(grad, expected), 1e-9);
}

TEST(ExactGradient, OptionsNameTheBadField) {
  ExactGradientOptions o;
  o.cg_tol = 0;
  std::string why;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("exact.cg_tol"), std::string::npos);
  o = {};
  o.free.dt = -1;
  EXPECT_THROW(o.validate(), InvalidOptions);
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("exact.free"), std::string::npos);
}

}  // namespace
}  // namespace ebm
