#include "learning/contrastive_hebbian.hpp"

#include <gtest/gtest.h>

#include "learning/gradient_checker.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

static_assert(Estimator<ContrastiveHebbian<double>, LayeredHopfield<double>>);

CHLOptions tight_chl(double tol = 1e-12) {
  CHLOptions o;
  o.free = o.clamped = test::tight_relax(tol);
  return o;
}

// THEORY.md §4: the CHL update is the exact gradient of J_CHL = E(clamped) − E(free), both phases
// re-relaxed; checked against central differences of J_CHL(θ).
TEST(ContrastiveHebbian, IsTheGradientOfTheContrastiveObjective) {
  test::SmallProblem p({3, 5, 4, 2}, 3, 5);
  const ContrastiveHebbian<double> chl(tight_chl(1e-13));
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd grad(p.net.params().size());
  const EstimateSummary summary = chl.estimate(p.net, p.x, p.d, s, grad);
  EXPECT_TRUE(summary.free_phase.converged());
  EXPECT_TRUE(summary.nudged_phase.converged());
  RelaxSummary ignored;
  const Eigen::MatrixXd s_free = s, s_clamped = chl.clamped_phase(p.net, p.x, p.d, s, ignored);

  const Eigen::VectorXd theta = p.net.params();
  const Eigen::MatrixXd fd = test::central_difference(
      [&](const Eigen::MatrixXd& th) {
        p.net.params() = th;
        Eigen::MatrixXd sf = s_free, sc = s_clamped;
        relax(FreeSystem(p.net, p.x), sf, test::tight_relax(1e-13));
        relax(ClampedSystem(p.net, p.x), sc, test::tight_relax(1e-13));
        return (p.net.energy(sc, p.x) - p.net.energy(sf, p.x)).sum();
      },
      theta, 1e-5);
  p.net.params() = theta;
  const double err = test::relative_error(grad, fd);
  test::report("CHL vs finite differences of J_CHL", err);
  EXPECT_LE(err, 1e-8);
  // The clamped state really holds the target.
  EXPECT_EQ(Eigen::MatrixXd(s_clamped.bottomRows(2)), p.d);
}

struct XieSeungProblem {
  XieSeungNetwork<double> net{{3, 5, 4, 2}, Activation::Kind::tanh};
  Eigen::MatrixXd x, d;
  XieSeungProblem() {
    net.init_glorot(13, 1.2);
    for (Index k = 1; k <= net.num_layers(); ++k) net.bias(k) = test::uniform_matrix(net.bias(k).size(), 1, -.3, .3, 13, 20 + k);
    x = test::uniform_matrix(3, 4, 0, 1, 13, 3);
    d = test::uniform_matrix(2, 4, -0.8, 0.8, 13, 4);
  }
  Eigen::VectorXd estimate(double gamma, bool layer_factor) const {
    CHLOptions o;
    o.free.method = o.clamped.method = Method::euler;
    o.free.dt = o.clamped.dt = 0.5;
    o.free.grad_tol = o.clamped.grad_tol = 1e-13;
    o.gamma = gamma;
    o.layer_factor = layer_factor;
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), x.cols());
    Eigen::VectorXd g(net.params().size());
    const EstimateSummary summary = ContrastiveHebbian<double>(o).estimate(net, x, d, s, g);
    EXPECT_TRUE(summary.free_phase.converged() && summary.nudged_phase.converged());
    return g;
  }
};

// The backprop reference is independent of the dynamics: check it against finite differences first.
TEST(ContrastiveHebbian, XieSeungBackpropReferenceMatchesFiniteDifferences) {
  XieSeungProblem p;
  const Eigen::VectorXd bp = p.net.backprop_gradient(p.x, p.d);
  const Eigen::VectorXd theta = p.net.params();
  const Eigen::MatrixXd fd = test::central_difference(
      [&](const Eigen::MatrixXd& th) {
        p.net.params() = th;
        const Eigen::MatrixXd s = p.net.feedforward(p.x);
        return 0.5 * (s.bottomRows(2) - p.d).squaredNorm();
      },
      theta);
  p.net.params() = theta;
  EXPECT_LE(test::relative_error(bp, fd), 1e-8);
}

// THEORY.md §4: with the factor γ^{k−L}, each layer's update tends to backprop's with an error O(γ);
// norms match. Without it, the lower layers' norms shrink as γ^{L−k} (negative control).
TEST(ContrastiveHebbian, XieSeungUpdateTendsToBackpropPerLayer) {
  const XieSeungProblem p;
  GradientChecker<double> checker(p.net.param_blocks(), p.net.backprop_gradient(p.x, p.d));
  const std::vector<double> gammas{0.1, 0.05, 0.025, 0.0125};
  checker.sweep("xie_seung", "gamma", gammas, [&](double g) { return p.estimate(g, true); });
  const GradientReport& report = checker.report();
  for (const char* layer : {"layer1", "layer2", "layer3"}) {
    const double e1 = report.find("xie_seung", layer, 0.025).metrics.relative_error;
    const double e2 = report.find("xie_seung", layer, 0.0125).metrics.relative_error;
    test::report(std::string("Xie-Seung ") + layer + " error at gamma 0.1", report.find("xie_seung", layer, 0.1).metrics.relative_error);
    test::report(std::string("Xie-Seung ") + layer + " error at gamma 0.0125", e2);
    test::report(std::string("Xie-Seung ") + layer + " halving ratio", e1 / e2);
    EXPECT_GE(e1 / e2, 1.6) << layer;
    EXPECT_LE(e1 / e2, 2.6) << layer;
    EXPECT_LE(e2, 0.1) << layer;
    EXPECT_NEAR(report.find("xie_seung", layer, 0.0125).metrics.norm_ratio, 1.0, 0.1) << layer;
    EXPECT_NEAR(report.find("xie_seung", layer, 0.0125).order, 1.0, 0.35) << layer;
  }
  // Negative control: no γ^{k−L}; layer k's norm ratio is ≈ γ^{L−k}, so the norm check fails below the output.
  GradientChecker<double> without(p.net.param_blocks(), p.net.backprop_gradient(p.x, p.d));
  without.add("no_factor", p.estimate(0.0125, false), "gamma", 0.0125);
  const double r1 = without.report().find("no_factor", "layer1").metrics.norm_ratio;
  const double r2 = without.report().find("no_factor", "layer2").metrics.norm_ratio;
  const double r3 = without.report().find("no_factor", "layer3").metrics.norm_ratio;
  test::report("no gamma^(k-L) factor: norm ratio layer1 / gamma^2", r1 / (0.0125 * 0.0125));
  test::report("no gamma^(k-L) factor: norm ratio layer2 / gamma", r2 / 0.0125);
  EXPECT_NEAR(r1 / (0.0125 * 0.0125), 1.0, 0.15);
  EXPECT_NEAR(r2 / 0.0125, 1.0, 0.15);
  EXPECT_NEAR(r3, 1.0, 0.1);
  EXPECT_FALSE(std::abs(r1 - 1.0) <= 0.1);  // what the per-layer norm check above would reject
}

TEST(ContrastiveHebbian, OptionsNameTheBadField) {
  CHLOptions o;
  std::string why;
  o.gamma = 0;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("chl.gamma"), std::string::npos);
  o = {};
  o.clamped.max_steps = 0;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("chl.clamped"), std::string::npos);
}

}  // namespace
}  // namespace ebm
