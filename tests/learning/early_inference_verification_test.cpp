// Early inference against the exact gradient and truncated BPTT (learning/early_inference_verification.hpp),
// on the reference net of THEORY.md ([3,5,4,2] tanh, double): one layer per step, O(β) agreement
// with BPTT over the same steps, and convergence to EP and to the exact gradient as k grows.

#include "learning/early_inference_verification.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "learning/exact_gradient.hpp"
#include "learning/gradient_checker.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

struct Curves {
  test::SmallProblem p;
  Eigen::MatrixXd s0 = p.free_state();
  std::vector<long> steps{1, 2, 3, 4, 8, 32, 128, 512, 2048};
  EarlyInferenceCurves<double> at(double beta) const {
    return early_inference_curves(p.net, p.x, p.d, s0, beta, 0.5, steps, SquaredError<double>{});
  }
};

/// Relative error of the rows of parameter layer k (W_k and b_k).
double layer_error(const test::SmallProblem& p, const Eigen::VectorXd& e, const Eigen::VectorXd& r, Index k) {
  const auto& blocks = p.net.param_blocks();
  const ParamBlock& w = blocks[std::size_t(k - 1)];
  const ParamBlock& b = blocks[std::size_t(p.net.num_layers() + k - 1)];
  const double diff = (test::block_of(e, w) - test::block_of(r, w)).squaredNorm() +
                      (test::block_of(e, b) - test::block_of(r, b)).squaredNorm();
  const double ref = test::block_of(r, w).squaredNorm() + test::block_of(r, b).squaredNorm();
  return std::sqrt(diff / ref);
}

TEST(EarlyInferenceVerification, SignalReachesOneLayerPerStepFromTheOutput) {
  const Curves c;
  const auto ei = c.at(0.01);
  EXPECT_EQ(ei.first_change, (std::vector<long>{3, 2, 1}));  // THEORY.md §2: layer L−k first moves at step k+1
  // Parameter layer 1 (W1, b1) couples to layer 1 only: zero estimate and zero truncated BPTT
  // until step 3, exactly (the un-nudged steps are subtracted).
  const ParamBlock& w1 = c.p.net.param_blocks()[0];
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(test::block_of(ei.estimate[i], w1).cwiseAbs().maxCoeff(), 0.0) << c.steps[i];
    EXPECT_EQ(test::block_of(ei.bptt[i], w1).cwiseAbs().maxCoeff(), 0.0) << c.steps[i];
  }
  EXPECT_GT(test::block_of(ei.estimate[2], w1).norm(), 0.0);
  EXPECT_GT(test::block_of(ei.bptt[2], w1).norm(), 0.0);
}

TEST(EarlyInferenceVerification, AgreesWithTruncatedBpttToOrderBeta) {
  const Curves c;
  const auto a = c.at(0.02), b = c.at(0.01);
  for (std::size_t i = 0; i < c.steps.size(); ++i)
    for (Index k = 1; k <= c.p.net.num_layers(); ++k) {
      if (test::block_of(a.bptt[i], c.p.net.param_blocks()[std::size_t(k - 1)]).norm() == 0) continue;
      const double ea = layer_error(c.p, a.estimate[i], a.bptt[i], k), eb = layer_error(c.p, b.estimate[i], b.bptt[i], k);
      // Ernoult et al.: ΔEP = −∇BPTT + O(β); halving β halves the gap (ratio 2 ± 15 %).
      EXPECT_NEAR(ea / eb, 2.0, 0.3) << "k = " << c.steps[i] << ", layer " << k;
      EXPECT_LT(ea, 0.2) << "k = " << c.steps[i] << ", layer " << k;
    }
}

TEST(EarlyInferenceVerification, ConvergesToEPAndBpttToTheExactGradient) {
  const Curves c;
  const double beta = 0.01;
  const auto ei = c.at(beta);
  const Eigen::VectorXd exact = implicit_gradient(c.p.net, c.s0, c.p.x, c.p.d).grad;
  // EP one-sided at the same β from the same s0, relaxed to 1e-13.
  Eigen::MatrixXd sb = c.s0;
  FreeSystem free(c.p.net, c.p.x);
  NudgedSystem nudged(free, c.p.d, beta);
  relax(nudged, sb, test::tight_relax(1e-13));
  Eigen::VectorXd ep(c.p.net.params().size());
  detail::param_gradient_difference(c.p.net, sb, c.s0, c.p.x, ep);
  ep /= beta;
  const double to_ep = (ei.estimate.back() - ep).norm() / ep.norm();
  const double to_exact = (ei.bptt.back() - exact).norm() / exact.norm();
  test::report("early inference vs EP at 2048 steps", to_ep);
  test::report("truncated BPTT vs exact at 2048 steps", to_exact);
  EXPECT_LT(to_ep, 1e-8);     // a 1e-13 residual over β = 0.01 leaves ~1e-11
  EXPECT_LT(to_exact, 1e-10);  // THEORY.md §3: 3e-16 at K = 400 on this net
  // Truncation error falls as k grows (THEORY.md §3: 0.44 % at K = 12).
  const double at4 = (ei.bptt[3] - exact).norm() / exact.norm(), at32 = (ei.bptt[5] - exact).norm() / exact.norm();
  EXPECT_GT(at4, at32);
}

TEST(EarlyInferenceVerification, LangevinTendsToTheDeterministicEstimateAsTemperatureFalls) {
  const Curves c;
  const double beta = 0.01;
  const auto det = c.at(beta);
  // At T = 0 the noise vanishes: the same Euler steps, the same estimate to rounding.
  const auto zero = langevin_early_inference(c.p.net, c.p.x, c.p.d, c.s0, beta, 0.5, c.steps, 0.0, 2, 1,
                                             SquaredError<double>{});
  for (std::size_t i = 0; i < c.steps.size(); ++i)
    EXPECT_LT((zero[i] - det.estimate[i]).norm(), 1e-12 * det.estimate[i].norm()) << c.steps[i];
  // With noise, the distance to the deterministic estimate falls as T does (shared noise keeps the
  // difference of the chains O(β); the mean over chains carries an O(T) bias and O(√T) spread).
  auto gap = [&](double t) {
    const auto noisy = langevin_early_inference(c.p.net, c.p.x, c.p.d, c.s0, beta, 0.5, {32}, t, 32, 5,
                                                SquaredError<double>{});
    return (noisy[0] - det.estimate[5]).norm() / det.estimate[5].norm();
  };
  const double hot = gap(1e-2), cold = gap(1e-4);
  test::report("Langevin early inference vs deterministic, T = 1e-2", hot);
  test::report("Langevin early inference vs deterministic, T = 1e-4", cold);
  EXPECT_LT(cold, hot / 3);
  EXPECT_LT(cold, 0.05);
}

}  // namespace
}  // namespace ebm
