#include "learning/early_inference.hpp"

#include <gtest/gtest.h>

#include "learning/equilibrium_prop.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

static_assert(Estimator<EarlyInference<double>, LayeredHopfield<double>>);

// g_{L−k} = B_{L−k}···B_{L−1} ∂C/∂y, B_j = diag(ρ'(s_j)) W_{j+1}ᵀ diag(ρ'(s_{j+1})): backprop's error
// signal through the chain of local maps, computed here by hand from the weights.
std::vector<Eigen::MatrixXd> chain_signals(const LayeredHopfield<double>& net, const Eigen::MatrixXd& s0,
                                           const Eigen::MatrixXd& d) {
  const Index L = net.num_layers();
  Eigen::MatrixXd dr(s0.rows(), s0.cols());
  net.activation().d_rho(s0, dr);
  std::vector<Eigen::MatrixXd> g(std::size_t(L + 1));
  g[std::size_t(L)] = net.layer(s0, L) - d;  // k = 0: ∂C/∂y
  for (Index j = L - 1; j >= 1; --j)
    g[std::size_t(j)] = net.layer(dr, j).cwiseProduct(
        net.weight(j + 1).transpose() * net.layer(dr, j + 1).cwiseProduct(g[std::size_t(j + 1)]));
  return g;
}

// THEORY.md §2, discrete time: layer L−k is exactly unchanged before step k+1 and its first change is
// −β ε^{k+1} g_{L−k} + O(β²). The O(β²) term relative to the signal is about β·ε·|∂C/∂y|·|ρ''/ρ'|, so
// the 0.02β bound of THEORY.md needs a small output error: `target_offset` sets d = y⁰ + offset·u,
// u uniform in [−1, 1]. With offset ~1 (a far target) the relative error is ≈ 0.5β here: the halving
// is then what is checked, with a bound scaled by the output error.
void check_early_signal(double target_offset, double bound_per_beta) {
  const test::SmallProblem p;
  const Eigen::MatrixXd s0 = p.free_state();
  const Index L = p.net.num_layers();
  const Eigen::MatrixXd d =
      Eigen::MatrixXd(p.net.layer(s0, L)) + target_offset * test::uniform_matrix(2, p.x.cols(), -1, 1, 99);
  const double eps = 0.5;
  const auto g = chain_signals(p.net, s0, d);
  std::vector<std::vector<double>> errors(2);
  for (int b = 0; b < 2; ++b) {
    const double beta = b == 0 ? 0.1 : 0.05;
    const auto traj = early_trajectory(p.net, p.x, d, s0, beta, eps, L + 1);
    for (Index k = 0; k < L; ++k) {
      const Index layer = L - k;
      for (Index t = 0; t <= k; ++t)
        EXPECT_EQ(p.net.layer(traj.delta(std::size_t(t)), layer).cwiseAbs().maxCoeff(), 0.0)
            << "layer " << layer << " moved at step " << t;
      const Eigen::MatrixXd first = p.net.layer(traj.delta(std::size_t(k + 1)), layer);
      const Eigen::MatrixXd expected = -beta * std::pow(eps, double(k + 1)) * g[std::size_t(layer)];
      errors[std::size_t(b)].push_back(test::relative_error(first, expected));
      test::report("target offset " + std::to_string(target_offset) + ": first change of layer " +
                       std::to_string(layer) + " at beta " + std::to_string(beta) + ", relative error",
                   errors[std::size_t(b)].back());
      EXPECT_LE(errors[std::size_t(b)].back(), bound_per_beta * beta) << "layer " << layer;
    }
  }
  for (Index k = 1; k < L; ++k) {  // the output's first change is exact (error at rounding level)
    const double ratio = errors[1][std::size_t(k)] / errors[0][std::size_t(k)];
    test::report("early inference error ratio (beta halved), layer " + std::to_string(L - k), ratio);
    EXPECT_GE(ratio, 0.4);
    EXPECT_LE(ratio, 0.6);
  }
}

TEST(EarlyInference, SignalTravelsOneLayerPerStepCarryingTheChainRuleSignal) {
  check_early_signal(0.02, 0.02);  // a near target: THEORY.md's bound
  check_early_signal(1.0, 1.0);    // a far target: same structure, bias scaled by |∂C/∂y|
}

// The Hebbian rule ρ_i dρ_j/dt, accumulated by the symmetric midpoint rule, telescopes exactly to the
// difference of ∂E/∂θ that the estimator returns.
TEST(EarlyInference, HebbianAccumulationTelescopesToTheEstimate) {
  const test::SmallProblem p;
  EarlyInferenceOptions o;
  o.free = test::tight_relax();
  o.beta = 0.1;
  o.steps = 6;
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd grad(p.net.params().size());
  EarlyInference<double>(o).estimate(p.net, p.x, p.d, s, grad);
  const auto traj = early_trajectory(p.net, p.x, p.d, s, o.beta, o.dt, o.steps);
  const Eigen::VectorXd hebb_nudged = hebbian_accumulation(p.net, p.x, traj.nudged);
  const Eigen::VectorXd hebb_free = hebbian_accumulation(p.net, p.x, traj.free);
  const Eigen::VectorXd from_hebb = (hebb_nudged - hebb_free) / o.beta;
  const double err = test::relative_error(from_hebb, grad);
  test::report("midpoint Hebbian accumulation vs endpoint difference", err);
  EXPECT_LE(err, 1e-12);
  // Endpoint form: ∂E/∂θ(s_T) − ∂E/∂θ(s_0) for one trajectory, to rounding.
  Eigen::VectorXd a(grad.size()), b(grad.size());
  p.net.param_gradient(traj.nudged.back(), p.x, a);
  p.net.param_gradient(traj.nudged.front(), p.x, b);
  EXPECT_LE((hebb_nudged - (a - b)).cwiseAbs().maxCoeff(), 1e-14 * (1 + a.cwiseAbs().maxCoeff()));
}

// Run long, early inference is EP: the one-sided estimate at the same β.
TEST(EarlyInference, LongRunsBecomeEquilibriumPropagation) {
  const test::SmallProblem p;
  EarlyInferenceOptions o;
  o.free = test::tight_relax();
  o.beta = 0.05;
  o.steps = 4000;
  o.dt = 0.5;
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd early(p.net.params().size()), ep(p.net.params().size());
  EarlyInference<double>(o).estimate(p.net, p.x, p.d, s, early);
  EPOptions e;
  e.free = e.nudged = test::tight_relax();
  e.beta = 0.05;
  s.setZero();
  EquilibriumProp<double>(e).estimate(p.net, p.x, p.d, s, ep);
  EXPECT_LE(test::relative_error(early, ep), 1e-7);
}

TEST(EarlyInference, OptionsNameTheBadField) {
  EarlyInferenceOptions o;
  std::string why;
  o.dt = 0;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("early.dt"), std::string::npos);
  o = {};
  o.steps = -1;
  EXPECT_THROW(o.validate(), InvalidOptions);
}

}  // namespace
}  // namespace ebm
