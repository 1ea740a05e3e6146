// EP checked against the exact gradient with tolerances derived from β (learning/ep_verification.hpp)
// and the verdict over the points above the error floor (learning/order_verdict.hpp), on the
// reference net of THEORY.md ([3,5,4,2] tanh, double).

#include "learning/ep_verification.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "learning/gradient_checker.hpp"
#include "learning/order_verdict.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

TEST(OrderVerdict, FitsOnlyAboveTheFloor) {
  // error = β + a floor that grows as 1/β (a residual δ/β): through all points the slope is
  // wrong; above the floor it is 1.
  const std::vector<double> betas{0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125};
  std::vector<double> err, floor;
  for (double b : betas) floor.push_back(1e-5 / b), err.push_back(b + 1e-5 / b);
  const OrderJudgement j = judge_order(betas, err, floor, {1.0, 0.2});
  EXPECT_TRUE(j.passed) << j.reason;
  EXPECT_NEAR(j.order, 1.0, 0.05);
  EXPECT_FALSE(j.fitted.back());  // 3.1e-3 against a floor of 3.2e-3
  EXPECT_LT(fitted_order(betas, err), 0.9);  // what fitting everything gives
  // A large floor everywhere leaves too few points: the verdict fails and says why.
  std::vector<double> high(betas.size(), 1.0);
  const OrderJudgement none = judge_order(betas, err, high, {1.0, 0.2});
  EXPECT_FALSE(none.passed);
  EXPECT_NE(none.reason.find("floor"), std::string::npos);
  // The wrong order fails.
  EXPECT_FALSE(judge_order(betas, err, floor, {2.0, 0.3}).passed);
}

/// The reference, the free point and EP at a sweep of β, all with the derived tolerances.
struct Sweep {
  test::SmallProblem p;
  VerificationRelax relax;
  FreePoint<double> free;
  AdjointGradient<double> exact;
  std::vector<EPPoint<double>> points;
  explicit Sweep(const VerificationRelax& r = {}, std::vector<double> betas = {0.05, 0.025, 0.0125, 0.00625, 0.003125})
      : relax(r) {
    VerificationRelax tight;
    const FreePoint<double> ref = free_point(p.net, p.x, p.d, SquaredError<double>{}, tight.achievable, tight);
    exact = implicit_gradient(p.net, ref.s, p.x, p.d);
    free = relax.from_config ? free_point(p.net, p.x, p.d, SquaredError<double>{}, tight.achievable, relax) : ref;
    for (double b : betas) points.push_back(ep_point(p.net, p.x, p.d, SquaredError<double>{}, free, b, relax));
  }
  GradientChecker<double> checker() const {
    GradientChecker<double> c(p.net.param_blocks(), exact.grad);
    for (const auto& pt : points) add_ep_point(c, pt);
    return c;
  }
};

TEST(EPVerification, DerivedTolerancesGiveTheTheoreticalOrders) {
  Sweep s;
  auto checker = s.checker();
  EXPECT_TRUE(checker.judge(kEpPlus, {1.0, 0.2}));
  EXPECT_TRUE(checker.judge(kEpMinus, {1.0, 0.2}));
  EXPECT_TRUE(checker.judge(kEpSymmetric, {2.0, 0.3}));
  const auto& r = checker.report();
  for (const char* g : {"layer1", "layer2", "layer3", "all"}) {
    EXPECT_NEAR(r.find(kEpPlus, g, 0.003125).order, 1.0, 0.1) << g;
    EXPECT_NEAR(r.find(kEpSymmetric, g, 0.003125).order, 2.0, 0.1) << g;
    // Every point is above its floor: the derived tolerance did its job.
    EXPECT_TRUE(r.find(kEpSymmetric, g, 0.003125).fitted) << g;
  }
  // For the record (THEORY.md §1 quotes 0.052 and 2.9e-3 at β = 0.05 on its own weights of this shape).
  test::report("one-sided rel. error at beta 0.05", r.find(kEpPlus, "all", 0.05).metrics.relative_error);
  test::report("symmetric rel. error at beta 0.05", r.find(kEpSymmetric, "all", 0.05).metrics.relative_error);
  test::report("symmetric floor at beta 0.003125", r.find(kEpSymmetric, "all", 0.003125).floor);
  for (const auto& pt : s.points) EXPECT_TRUE(pt.plus_phase.reached() && pt.minus_phase.reached()) << pt.beta;
  // The average of the two random-sign draws is the symmetric estimate, not a copy of either.
  const auto& last = s.points.back();
  EXPECT_LT((0.5 * (last.plus + last.minus) - last.symmetric).norm(), 1e-12 * last.symmetric.norm());
  EXPECT_GT((last.plus - last.minus).norm(), 1e-4 * last.symmetric.norm());
}

TEST(EPVerification, FlippedBetaSignFailsTheVerdict) {
  // A wrong estimator: one-sided EP with the sign of β flipped, (1/β)[∂E/∂θ(s^{−β}) − ∂E/∂θ(s⁰)],
  // which is minus the negative-β draw: it points the other way, its error does not fall with β.
  Sweep s;
  GradientChecker<double> checker(s.p.net.param_blocks(), s.exact.grad);
  for (const auto& pt : s.points) checker.add("ep_flipped_sign", Eigen::VectorXd(-pt.minus), "beta", pt.beta, pt.minus_diag);
  EXPECT_FALSE(checker.judge("ep_flipped_sign", {1.0, 0.2}));
  const auto& row = checker.report().find("ep_flipped_sign", "all", 0.003125);
  EXPECT_NEAR(row.metrics.relative_error, 2.0, 0.01);  // −g against g
  EXPECT_NEAR(row.metrics.cosine, -1.0, 1e-3);
  EXPECT_EQ(row.verdict.rfind("FAIL", 0), 0u) << row.verdict;
  EXPECT_EQ(checker.report().failures().size(), 4u * s.points.size());  // three layers and all, at every β
}

TEST(EPVerification, LooseRelaxationFailsAndItsFloorExplainsTheError) {
  // The user's loose relaxation imposed: residual ~1e-4 over β swamps the bias.
  VerificationRelax loose;
  loose.from_config = true;
  loose.config_free = loose.config_nudged = test::tight_relax(1e-4);
  Sweep s(loose);
  auto checker = s.checker();
  EXPECT_FALSE(checker.judge(kEpSymmetric, {2.0, 0.3}));
  for (const auto& pt : s.points) EXPECT_FALSE(pt.plus_phase.reached()) << pt.beta;
  const auto& row = checker.report().find(kEpSymmetric, "all", 0.003125);
  EXPECT_FALSE(row.fitted);
  EXPECT_NE(row.verdict.find("floor"), std::string::npos) << row.verdict;
  // The floor is the first-order effect of the residuals: it must account for the distance
  // between the loose and the tight estimates (same β), within a small factor.
  Sweep tight;
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    const double gap = (s.points[i].symmetric - tight.points[i].symmetric).norm() / tight.exact.grad.norm();
    const double floor = checker.report().find(kEpSymmetric, "all", s.points[i].beta).floor;
    EXPECT_GT(floor, 0.3 * gap) << s.points[i].beta;
    EXPECT_LT(floor, 10 * gap) << s.points[i].beta;
    if (i + 1 == s.points.size()) test::report("loose gap / floor at the smallest beta", gap / floor);
  }
}

TEST(EPVerification, NeededResidualScalesWithBetaToTheOrderPlusOne) {
  VerificationRelax r;
  EXPECT_DOUBLE_EQ(needed_residual(0.1, 2, 1.0, r), 1e-3 * 1e-3);
  EXPECT_NEAR(needed_residual(0.05, 1, 2.0, r) / needed_residual(0.1, 1, 2.0, r), 0.25, 1e-12);
  EXPECT_EQ(needed_residual(1e-4, 2, 1.0, r), r.achievable);
  // The default sweep starts where the one-sided error is 5 %, then halves.
  const auto betas = default_beta_sweep(0.01, 0.02, 4);
  ASSERT_EQ(betas.size(), 4u);
  EXPECT_NEAR(betas[0], 0.025, 1e-15);
  EXPECT_NEAR(betas[3], 0.025 / 8, 1e-15);
}

}  // namespace
}  // namespace ebm
