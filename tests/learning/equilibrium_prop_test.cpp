#include "learning/equilibrium_prop.hpp"

#include <gtest/gtest.h>

#include <set>

#include "learning/exact_gradient.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

static_assert(Estimator<EquilibriumProp<double>, LayeredHopfield<double>>);

EPOptions tight_ep(double beta, EPVariant variant) {
  EPOptions o;
  o.free = o.nudged = test::tight_relax();
  o.beta = beta;
  o.variant = variant;
  return o;
}

double ep_error(const test::SmallProblem& p, const Eigen::VectorXd& exact, double beta, EPVariant v) {
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd g(p.net.params().size());
  EquilibriumProp<double>(tight_ep(beta, v)).estimate(p.net, p.x, p.d, s, g);
  return test::relative_error(g, exact);
}

Eigen::VectorXd exact_gradient(const test::SmallProblem& p) {
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd g(p.net.params().size());
  ExactGradient<double>().estimate(p.net, p.x, p.d, s, g);
  return g;
}

// THEORY.md §1: halving β halves the one-sided error and quarters the symmetric one.
TEST(EquilibriumProp, OneSidedErrorIsFirstOrderAndSymmetricSecondOrderInBeta) {
  for (std::uint64_t seed : {7u, 21u}) {
    const test::SmallProblem p({3, 5, 4, 2}, 4, seed);
    const Eigen::VectorXd exact = exact_gradient(p);
    for (EPVariant v : {EPVariant::one_sided, EPVariant::symmetric}) {
      std::vector<double> errors;
      for (double beta : {0.1, 0.05, 0.025, 0.0125}) {
        errors.push_back(ep_error(p, exact, beta, v));
        test::report(std::string(to_string(v)) + " relative error at beta " + std::to_string(beta), errors.back());
      }
      const double lo = v == EPVariant::one_sided ? 1.7 : 3.5, hi = v == EPVariant::one_sided ? 2.3 : 4.5;
      for (std::size_t i = 2; i < errors.size(); ++i) {  // β ≤ 0.05
        const double ratio = errors[i - 1] / errors[i];
        test::report(std::string(to_string(v)) + " halving ratio", ratio);
        EXPECT_GE(ratio, lo) << to_string(v) << " seed " << seed;
        EXPECT_LE(ratio, hi) << to_string(v) << " seed " << seed;
      }
      EXPECT_LT(errors.back(), v == EPVariant::one_sided ? 0.05 : 1e-3);
    }
  }
}

// relax_pair_driven with the model's own drive is relax_pair, bit for bit, for every variant (a
// trainer passes the minibatch's drive instead of letting each chunk compute it).
TEST(EquilibriumProp, RelaxPairFromAGivenDriveIsRelaxPair) {
  const test::SmallProblem p({6, 5, 4, 3}, 4, 11);
  Eigen::MatrixXd drive(p.net.input_drive_rows(), p.x.cols());
  p.net.input_drive(p.x, drive);
  for (EPVariant v : {EPVariant::one_sided, EPVariant::symmetric, EPVariant::random_sign}) {
    EPOptions o = tight_ep(0.1, v);
    o.free.max_steps = o.nudged.max_steps = 40;  // also when the phases end on their budget
    const EquilibriumProp<double> ep(o);
    Eigen::MatrixXd s1 = Eigen::MatrixXd::Zero(p.net.state_size(), 4), s2 = s1, a1, b1, a2, b2;
    ep.relax_pair(p.net, p.x, p.d, s1, a1, b1, 3);
    ep.relax_pair_driven(p.net, p.x, drive, p.d, s2, a2, b2, 3);
    EXPECT_EQ(s1, s2) << to_string(v);
    EXPECT_EQ(a1, a2) << to_string(v);
    EXPECT_EQ(b1, b2) << to_string(v);
  }
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), 4), a, b;
  EXPECT_THROW(EquilibriumProp<double>(tight_ep(0.1, EPVariant::one_sided))
                   .relax_pair_driven(p.net, p.x, drive.topRows(2), p.d, s, a, b),
               DimensionMismatch);
}

// The link to recurrent backprop: ds^β/dβ at β = 0 is −λ, λ = H⁻¹∂C/∂s.
TEST(EquilibriumProp, NudgedStatesMoveAlongMinusTheAdjoint) {
  const test::SmallProblem p;
  const Eigen::MatrixXd s0 = p.free_state();
  const auto adj = implicit_gradient(p.net, s0, p.x, p.d);
  std::vector<double> errors;
  for (double beta : {2e-3, 1e-3}) {
    NudgedSystem<LayeredHopfield<double>> nudged(p.net, p.x, p.d, beta);
    Eigen::MatrixXd sp = s0, sm = s0;
    relax(nudged, sp, test::tight_relax(1e-13));
    nudged.set_beta(-beta);
    relax(nudged, sm, test::tight_relax(1e-13));
    errors.push_back(test::relative_error(Eigen::MatrixXd((sp - sm) / (2 * beta)), Eigen::MatrixXd(-adj.lambda)));
    test::report("|(s^b - s^-b)/2b + lambda|/|lambda| at beta " + std::to_string(beta), errors.back());
    EXPECT_LE(errors.back(), 1e-5);
  }
  EXPECT_GT(errors[0] / errors[1], 3.0);  // O(β²): the symmetric difference of a smooth curve
}

// Random sign: the sign is a deterministic function of (seed, first example), both signs occur,
// and each estimate is exactly the one-sided estimate with that signed β.
TEST(EquilibriumProp, RandomSignIsReproducibleAndMatchesTheSignedOneSidedEstimate) {
  const test::SmallProblem p;
  const EquilibriumProp<double> random(tight_ep(0.01, EPVariant::random_sign));
  std::set<int> signs;
  for (Index first : {0, 4, 8, 12, 16, 20, 24, 28}) signs.insert(int(random.signed_beta(first) > 0 ? 1 : -1));
  EXPECT_EQ(signs.size(), 2u);
  EXPECT_EQ(random.signed_beta(8), EquilibriumProp<double>(tight_ep(0.01, EPVariant::random_sign)).signed_beta(8));

  const Eigen::VectorXd exact = exact_gradient(p);
  for (Index first : {0, 4, 8, 12}) {
    const double beta = random.signed_beta(first);
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
    Eigen::VectorXd g_random(p.net.params().size()), g_signed(p.net.params().size());
    random.estimate(p.net, p.x, p.d, s, g_random, first);
    // One-sided with the same signed β, computed by hand from the two fixed points.
    const Eigen::MatrixXd s0 = p.free_state();
    Eigen::MatrixXd sb = s0;
    NudgedSystem<LayeredHopfield<double>> nudged(p.net, p.x, p.d, beta);
    relax(nudged, sb, test::tight_relax());
    Eigen::VectorXd a(g_signed.size()), b(g_signed.size());
    p.net.param_gradient(sb, p.x, a);
    p.net.param_gradient(s0, p.x, b);
    g_signed = (a - b) / beta;
    EXPECT_LE(test::relative_error(g_random, g_signed), 1e-8);
    EXPECT_LE(test::relative_error(g_random, exact), 0.03);
  }
}

TEST(EquilibriumProp, OptionsNameTheBadField) {
  EPOptions o;
  std::string why;
  o.beta = 0;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("ep.beta"), std::string::npos);
  o = {};
  o.nudged.grad_tol = -1;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("ep.nudged"), std::string::npos);
  EXPECT_THROW(EquilibriumProp<double>{o}, InvalidOptions);
  EXPECT_EQ(parse_ep_variant("symmetric"), EPVariant::symmetric);
  EXPECT_THROW(parse_ep_variant("both"), InvalidOptions);
}

}  // namespace
}  // namespace ebm
