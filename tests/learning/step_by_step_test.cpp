#include "learning/step_by_step.hpp"

#include <gtest/gtest.h>

#include "learning/bptt.hpp"
#include "learning/exact_gradient.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

using Dyn = PrimitiveDynamics<LayeredHopfield<double>>;
static_assert(HasPrimitiveParams<Dyn>);

// A dynamics with no primitive: s_{t+1} = tanh(A s + c + B x), A not symmetric (the negative control).
struct AsymmetricTanh {
  using Scalar = double;
  Eigen::MatrixXd a, bx;
  Eigen::VectorXd c;
  std::vector<Block> layers;
  Block out;
  Block output_block() const { return out; }
  std::vector<Block> layer_blocks() const { return layers; }
  void step(ConstRef<double> s, ConstRef<double> x, MutRef<double> o) const {
    o = ((a * s + bx * x).colwise() + c).array().tanh().matrix();
  }
  void step_vjp(ConstRef<double> s, ConstRef<double> x, ConstRef<double> v, MutRef<double> o) const {
    const Eigen::MatrixXd d = 1 - ((a * s + bx * x).colwise() + c).array().tanh().square();
    o = a.transpose() * (d.array() * v.array()).matrix();
  }
};
static_assert(DiscreteDynamics<AsymmetricTanh>);

struct Fixture {
  test::SmallProblem p{{3, 5, 4, 2}, 3, 7};
  Eigen::MatrixXd s_star = p.free_state(test::tight_relax(1e-13));
  Dyn dyn{p.net, 0.5};
};

// THEORY.md §3: ΔEP_s(β, 0) = −∂C/∂s(s*) for any β; layers not reached yet are exactly zero.
TEST(StepByStep, FirstNeuralUpdateIsMinusTheCostGradient) {
  Fixture f;
  for (double beta : {0.5, 0.01}) {
    const auto r = step_by_step(f.dyn, f.p.x, f.p.d, f.s_star, beta, 4, f.p.net.param_blocks());
    Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(f.s_star.rows(), f.s_star.cols());
    expected.bottomRows(2) = -(f.s_star.bottomRows(2) - f.p.d);
    const double err = (r.ep_s[0] - expected).cwiseAbs().maxCoeff() / expected.cwiseAbs().maxCoeff();
    test::report("|dEP_s(beta,0) + dC/ds| (relative, max) at beta " + std::to_string(beta), err);
    EXPECT_LE(err, 1e-13);
    // Layer L−k first moves at step k: ΔEP_s(β, t) is zero there for t < k.
    const auto layers = f.p.net.layer_blocks();
    for (std::size_t k = 1; k < layers.size(); ++k)
      for (std::size_t t = 0; t < k; ++t)
        EXPECT_EQ(r.ep_s[t].middleRows(layers[layers.size() - 1 - k].offset, layers[layers.size() - 1 - k].size)
                      .cwiseAbs().maxCoeff(), 0.0);
  }
}

// RMSE of ΔEP against −∇BPTT per layer and per block is O(β): ratio ≈ 2 when β halves.
TEST(StepByStep, EPUpdatesConvergeToBPTTGradientsLinearlyInBeta) {
  Fixture f;
  const long K = 12;
  std::vector<StepByStep<double>> runs;
  for (double beta : {0.02, 0.01, 0.005}) runs.push_back(step_by_step(f.dyn, f.p.x, f.p.d, f.s_star, beta, K, f.p.net.param_blocks()));
  for (std::size_t l = 0; l < runs[0].rmse_s.size(); ++l) {
    test::report("step-by-step neural RMSE layer " + std::to_string(l + 1) + " at beta 0.005", runs[2].rmse_s[l]);
    for (std::size_t i = 1; i < runs.size(); ++i) {
      const double ratio = runs[i - 1].rmse_s[l] / runs[i].rmse_s[l];
      EXPECT_GE(ratio, 1.7) << "layer " << l + 1;
      EXPECT_LE(ratio, 2.3) << "layer " << l + 1;
    }
  }
  for (std::size_t b = 0; b < runs[0].rmse_theta.size(); ++b) {
    const double ratio = runs[1].rmse_theta[b] / runs[2].rmse_theta[b];
    test::report("step-by-step synaptic RMSE " + f.p.net.param_blocks()[b].name + " halving ratio", ratio);
    EXPECT_GE(ratio, 1.7);
    EXPECT_LE(ratio, 2.3);
  }
  EXPECT_LT(*std::max_element(runs[2].rmse_s.begin(), runs[2].rmse_s.end()), 0.05);
}

// Summed over t, EP's synaptic updates give truncated BPTT through K steps at s*, which approaches
// the implicit gradient as K grows.
TEST(StepByStep, SummedUpdatesAreTruncatedBPTTWhichTendsToTheExactGradient) {
  Fixture f;
  const long K = 60;
  const auto r = step_by_step(f.dyn, f.p.x, f.p.d, f.s_star, 1e-4, K, f.p.net.param_blocks());
  Eigen::VectorXd ep_sum = Eigen::VectorXd::Zero(f.p.net.params().size()), bptt_sum = ep_sum;
  for (long t = 0; t < K; ++t) ep_sum += r.ep_theta[std::size_t(t)], bptt_sum += r.bptt_theta[std::size_t(t)];
  EXPECT_LE(test::relative_error(Eigen::VectorXd(-ep_sum), bptt_sum), 1e-3);
  // bptt_through on K recorded Euler steps at s* gives the same truncated gradient.
  std::vector<Eigen::MatrixXd> states(std::size_t(K + 1), f.s_star);
  const auto through = bptt_through(f.p.net, f.p.x, f.p.d, states, std::vector<double>(std::size_t(K), 0.5));
  EXPECT_LE(test::relative_error(through.grad, bptt_sum), 1e-12);
  const auto exact = implicit_gradient(f.p.net, f.s_star, f.p.x, f.p.d);
  std::vector<double> errors;
  for (long k : {6L, 12L, 60L}) {
    Eigen::VectorXd partial = Eigen::VectorXd::Zero(bptt_sum.size());
    for (long t = 0; t < k; ++t) partial += r.bptt_theta[std::size_t(t)];
    errors.push_back(test::relative_error(partial, exact.grad));
    test::report("truncated BPTT vs exact, K = " + std::to_string(k), errors.back());
  }
  EXPECT_LT(errors[1], errors[0]);
  EXPECT_LT(errors[2], 1e-6);
}

// Negative control: without a primitive function the EP updates do not converge to BPTT.
TEST(StepByStep, DynamicsWithoutPrimitiveDoesNotMatchBPTT) {
  AsymmetricTanh dyn;
  dyn.a = 0.6 * test::uniform_matrix(6, 6, -1, 1, 5, 1);
  dyn.bx = test::uniform_matrix(6, 3, -1, 1, 5, 2);
  dyn.c = test::uniform_matrix(6, 1, -0.3, 0.3, 5, 3);
  dyn.layers = {{0, 4}, {4, 2}};
  dyn.out = {4, 2};
  ASSERT_GT((dyn.a - dyn.a.transpose()).norm(), 1.0);
  const Eigen::MatrixXd x = test::uniform_matrix(3, 3, 0, 1, 5, 4), d = test::uniform_matrix(2, 3, -.8, .8, 5, 5);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(6, 3), next(6, 3);
  for (int i = 0; i < 2000; ++i) dyn.step(s, x, next), s = next;
  dyn.step(s, x, next);
  ASSERT_LT((next - s).norm(), 1e-12);  // a fixed point
  std::vector<double> rmse;
  for (double beta : {0.01, 0.005, 0.0025}) {
    const auto r = step_by_step(dyn, x, d, s, beta, 12);
    rmse.push_back(r.rmse_s[0]);
    test::report("no primitive: hidden RMSE at beta " + std::to_string(beta), rmse.back());
  }
  EXPECT_GT(rmse.back(), 0.05);             // does not go to zero …
  EXPECT_LT(rmse[0] / rmse.back(), 1.3);    // … and does not halve with β
}

}  // namespace
}  // namespace ebm
