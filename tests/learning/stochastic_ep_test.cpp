#include "learning/stochastic_ep.hpp"

#include <gtest/gtest.h>

#include "learning_util.hpp"
#include "models/quadratic.hpp"

namespace ebm {
namespace {

static_assert(Estimator<StochasticEP<double>, LayeredHopfield<double>>);

// Quadratic energy E = ½(s−μ)ᵀA(s−μ) at temperature T: p⁰ = N(μ, T A⁻¹) (and Euler–Maruyama keeps the
// mean exactly), so J(μ) = E[½‖s_out − d‖²] = ½‖μ_out − d‖² + ½T tr(A⁻¹)_out and dJ/dμ = P(μ_out − d):
// an exact gradient of E[C] independent of any sampling.
struct QuadraticProblem {
  Quadratic<double> q{test::spd_matrix(4, 0.8, 3.0, 3), test::uniform_matrix(4, 1, -1, 1, 3, 1), 2};
  Eigen::MatrixXd x = Eigen::MatrixXd(0, 2);
  Eigen::MatrixXd d = test::uniform_matrix(2, 2, -1, 1, 3, 2);
  Eigen::VectorXd exact() const {
    Eigen::VectorXd g = Eigen::VectorXd::Zero(4);
    for (Index j = 0; j < d.cols(); ++j) g.tail(2) += q.minimum().tail(2) - d.col(j);
    return g;
  }
  double error(double beta, bool shared) const {
    StochasticEPOptions o;
    o.langevin.temperature = 0.1;
    o.langevin.dt = 0.05;
    o.langevin.seed = 11;
    o.burn_in = 400;
    o.samples = 1000;
    o.chains = 128;
    o.beta = beta;
    o.shared_noise = shared;
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(4, 2);
    Eigen::VectorXd g(4);
    StochasticEP<double>(o).estimate(q, x, d, s, g);
    return test::relative_error(g, exact());
  }
};

// THEORY.md §6: with shared noise the error against the exact gradient of E[C] is O(β); with
// independent noise it is dominated by the sampling noise divided by β (negative control).
TEST(StochasticEP, SharedNoiseGivesFirstOrderErrorAgainstTheExactGradientOfTheExpectedCost) {
  const QuadraticProblem p;
  std::vector<double> errors;
  for (double beta : {0.2, 0.1, 0.05}) {
    errors.push_back(p.error(beta, true));
    test::report("stochastic EP (shared noise) relative error at beta " + std::to_string(beta), errors.back());
  }
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_GE(errors[i - 1] / errors[i], 1.7);
    EXPECT_LE(errors[i - 1] / errors[i], 2.3);
  }
  EXPECT_LT(errors.back(), 0.05);
  const double shared = p.error(0.0125, true), independent = p.error(0.0125, false);
  test::report("stochastic EP (shared noise) relative error at beta 0.0125", shared);
  test::report("stochastic EP (independent noise) relative error at beta 0.0125", independent);
  EXPECT_LT(shared, 0.02);
  EXPECT_GT(independent, 5 * shared);
}

// On a nonlinear network the estimate is reproducible from the seed and independent of how the batch
// is split (noise streams follow the example index).
TEST(StochasticEP, SplittingTheBatchDoesNotChangeTheEstimate) {
  const test::SmallProblem p({3, 4, 2}, 4, 3);
  StochasticEPOptions o;
  o.langevin.temperature = 0.05;
  o.langevin.dt = 0.05;
  o.burn_in = 50;
  o.samples = 50;
  o.chains = 3;
  o.beta = 0.1;
  const StochasticEP<double> sep(o);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), 4);
  Eigen::VectorXd whole(p.net.params().size()), a(whole.size()), b(whole.size());
  sep.estimate(p.net, p.x, p.d, s, whole);
  Eigen::MatrixXd s1 = Eigen::MatrixXd::Zero(p.net.state_size(), 2), s2 = s1;
  sep.estimate(p.net, p.x.leftCols(2), p.d.leftCols(2), s1, a, 0);
  sep.estimate(p.net, p.x.rightCols(2), p.d.rightCols(2), s2, b, 2);
  EXPECT_LE(test::relative_error(Eigen::VectorXd(a + b), whole), 1e-12);
}

TEST(StochasticEP, OptionsNameTheBadField) {
  StochasticEPOptions o;
  std::string why;
  o.chains = 0;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("stochastic_ep.chains"), std::string::npos);
  o = {};
  o.langevin.temperature = -1;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("langevin.temperature"), std::string::npos);
}

}  // namespace
}  // namespace ebm
