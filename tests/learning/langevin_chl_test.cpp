// CHL under Langevin dynamics is Boltzmann learning: the clamped minus free expectations of ∂E/∂θ
// equal −T ∂log p(d)/∂θ. Checked on a Gaussian energy whose laws are known in closed form
// (THEORY.md §7), within a few standard errors that shrink as 1/√samples; ULA's O(h) bias is
// predicted exactly and MALA removes it.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "learning/contrastive_hebbian.hpp"
#include "learning_util.hpp"
#include "models/gaussian.hpp"

namespace ebm {
namespace {

static_assert(EnergyModel<GaussianEnergy<double>>);

// THEORY.md §7: A = [[2, −0.5], [−0.5, 1.5]], b = (0.3, −0.2), T = 0.5, s₁ visible, d = 0.8.
struct Boltzmann {
  Eigen::Matrix2d a{{2.0, -0.5}, {-0.5, 1.5}};
  Eigen::Vector2d b{0.3, -0.2};
  double temperature = 0.5, d = 0.8;
  GaussianEnergy<double> model{a, b, 1};
  Eigen::MatrixXd x = Eigen::MatrixXd(0, 1);
  Eigen::MatrixXd target = Eigen::MatrixXd::Constant(1, 1, 0.8);

  // E[∂E/∂θ] for a Gaussian law of s with mean m and covariance c: (−m, ½E[s₁²], E[s₁s₂], ½E[s₂²]).
  static Eigen::VectorXd expected_param_gradient(const Eigen::Vector2d& m, const Eigen::Matrix2d& c) {
    Eigen::VectorXd g(5);
    g << -m(0), -m(1), 0.5 * (c(0, 0) + m(0) * m(0)), c(0, 1) + m(0) * m(1), 0.5 * (c(1, 1) + m(1) * m(1));
    return g;
  }
  // E_clamped − E_free of ∂E/∂θ for the stationary laws of Langevin dynamics with step h: h = 0 is
  // the exact law (−T ∂log p(d)/∂θ); ULA's law on a quadratic is N(μ, T A⁻¹(I − hA/2)⁻¹), on the
  // free chain and (1-D, precision A₂₂) on the clamped one (THEORY.md §6).
  Eigen::VectorXd chl_expectation(double h) const {
    const Eigen::Vector2d m = a.inverse() * b;
    const Eigen::Matrix2d c_free =
        temperature * a.inverse() * (Eigen::Matrix2d::Identity() - 0.5 * h * a).inverse();
    const Eigen::Vector2d m_clamped{d, (b(1) - a(1, 0) * d) / a(1, 1)};
    Eigen::Matrix2d c_clamped = Eigen::Matrix2d::Zero();
    c_clamped(1, 1) = temperature / a(1, 1) / (1 - 0.5 * h * a(1, 1));
    return expected_param_gradient(m_clamped, c_clamped) - expected_param_gradient(m, c_free);
  }

  ContrastiveHebbian<double> chl(Method method, double h, long samples, std::uint64_t seed) const {
    CHLOptions o;
    o.free.method = o.clamped.method = method;
    o.free.temperature = o.clamped.temperature = temperature;
    o.free.dt = o.clamped.dt = h;
    o.free.max_steps = 200;  // the free phase's burn-in
    o.langevin.chains = 32;
    o.langevin.burn_in = 50;
    o.langevin.samples = samples;
    o.langevin.thinning = 2;
    o.langevin.seed = seed;
    return ContrastiveHebbian<double>(o);
  }

  // Mean and standard error over independent replicates (seeds) of the CHL estimate.
  struct Stats {
    Eigen::VectorXd mean, se;
  };
  Stats replicate(Method method, double h, long samples, int replicates = 32) const {
    std::vector<Eigen::VectorXd> runs;
    for (int r = 0; r < replicates; ++r) {
      Eigen::MatrixXd s = Eigen::MatrixXd::Zero(2, 1);
      Eigen::VectorXd g(5);
      chl(method, h, samples, 1000 + std::uint64_t(r)).estimate(model, x, target, s, g);
      runs.push_back(g);
    }
    Stats st{Eigen::VectorXd::Zero(5), Eigen::VectorXd::Zero(5)};
    for (const auto& g : runs) st.mean += g / double(replicates);
    for (const auto& g : runs) st.se += (g - st.mean).cwiseAbs2() / double(replicates - 1);
    st.se = (st.se / double(replicates)).cwiseSqrt();
    return st;
  }
};

// The closed form agrees with THEORY.md's numbers (finite differences of the exact marginal).
TEST(LangevinCHL, ClosedFormMatchesTheLogLikelihoodGradient) {
  const Boltzmann p;
  Eigen::VectorXd dlogp(5);
  dlogp << 1.345455, 0.448485, -0.351074, -0.054656, 0.020790;
  const Eigen::VectorXd chl = p.chl_expectation(0);
  for (Index i = 0; i < 5; ++i) EXPECT_NEAR(-chl(i) / p.temperature, dlogp(i), 2e-6) << "parameter " << i;
  // The gradient of the exact marginal log-density by finite differences, independently.
  auto log_marginal = [&](const Eigen::VectorXd& th) {
    Eigen::Matrix2d a{{th(2), th(3)}, {th(3), th(4)}};
    const Eigen::Vector2d m = a.inverse() * Eigen::Vector2d(th(0), th(1));
    const double v = p.temperature * a.inverse()(0, 0);
    return -0.5 * std::log(2 * M_PI * v) - (p.d - m(0)) * (p.d - m(0)) / (2 * v);
  };
  const Eigen::VectorXd fd = test::central_difference(log_marginal, p.model.params());
  EXPECT_LE(test::relative_error(Eigen::VectorXd(-chl / p.temperature), fd), 1e-8);
}

// MALA samples the exact law: the estimate is −T ∂log p/∂θ within 4.5 standard errors, and the
// standard errors shrink as 1/√samples (4× the samples: half the error bar).
TEST(LangevinCHL, MalaEstimateEqualsTheLogLikelihoodGradientWithinStandardErrors) {
  const Boltzmann p;
  const Eigen::VectorXd exact = p.chl_expectation(0);
  const auto few = p.replicate(Method::mala, 0.2, 100), many = p.replicate(Method::mala, 0.2, 400);
  for (Index i = 0; i < 5; ++i) {
    EXPECT_LE(std::abs(few.mean(i) - exact(i)), 4.5 * few.se(i)) << "parameter " << i << " at 100 samples";
    EXPECT_LE(std::abs(many.mean(i) - exact(i)), 4.5 * many.se(i)) << "parameter " << i << " at 400 samples";
    const double ratio = few.se(i) / many.se(i);
    test::report("CHL/MALA standard error ratio, 100 vs 400 samples, parameter " + std::to_string(i), ratio);
    EXPECT_GE(ratio, 1.4) << "parameter " << i;
    EXPECT_LE(ratio, 2.8) << "parameter " << i;
  }
  test::report("CHL/MALA relative error at 400 samples x 32 chains x 32 replicates",
               test::relative_error(many.mean, exact));
  test::report("CHL/MALA largest standard error at 400 samples", many.se.maxCoeff());
}

// At a large step ULA samples N(μ, T A⁻¹(I − hA/2)⁻¹): its estimate matches that prediction and
// misses the log-likelihood gradient by many standard errors (negative control); MALA at the same
// step does not.
TEST(LangevinCHL, UlaCarriesItsStepBiasAndMalaRemovesIt) {
  const Boltzmann p;
  const double h = 0.4;
  const Eigen::VectorXd exact = p.chl_expectation(0), ula_law = p.chl_expectation(h);
  const auto ula = p.replicate(Method::ula, h, 200), mala = p.replicate(Method::mala, h, 200);
  double worst_ula_z = 0;
  for (Index i = 0; i < 5; ++i) {
    EXPECT_LE(std::abs(ula.mean(i) - ula_law(i)), 4.5 * ula.se(i)) << "parameter " << i;
    EXPECT_LE(std::abs(mala.mean(i) - exact(i)), 4.5 * mala.se(i)) << "parameter " << i;
    worst_ula_z = std::max(worst_ula_z, std::abs(ula.mean(i) - exact(i)) / ula.se(i));
  }
  test::report("CHL/ULA h = 0.4: largest |estimate - exact| in standard errors", worst_ula_z);
  test::report("CHL/ULA h = 0.4: relative bias", test::relative_error(ula.mean, exact));
  test::report("CHL/MALA h = 0.4: relative error", test::relative_error(mala.mean, exact));
  EXPECT_GE(worst_ula_z, 10.0);
}

// The clamped chains hold the visible unit at the data: no noise there, so it never moves.
TEST(LangevinCHL, ClampedChainsHoldTheVisibleUnit) {
  const Boltzmann p;
  CHLOptions o;
  o.free.method = o.clamped.method = Method::ula;
  o.free.temperature = o.clamped.temperature = p.temperature;
  o.free.dt = o.clamped.dt = 0.1;
  o.free.max_steps = 10;
  o.langevin.burn_in = 5;
  const ContrastiveHebbian<double> chl(o);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(2, 1), s_a, s_b;
  chl.relax_pair(p.model, p.x, p.target, s, s_a, s_b);
  EXPECT_EQ(s_a(0, 0), p.d);
  EXPECT_NE(s_b(0, 0), p.d);
}

// langevin.start = fixed_points: the clamped chains start at the clamped fixed point (relaxed from the
// free one with the free phase's deterministic method), so at a tiny temperature a pair of a single
// MALA step gives deterministic CHL; from the free phase's end the hidden unit of the clamped chain
// has not moved yet and the estimate misses it (negative control).
TEST(LangevinCHL, APairFromTheFixedPointsStartsAtTheClampedFixedPoint) {
  const Boltzmann p;
  CHLOptions d;
  d.free = d.clamped = test::tight_relax();
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(2, 1);
  Eigen::VectorXd det(p.model.params().size()), g(det.size());
  ContrastiveHebbian<double>(d).estimate(p.model, p.x, p.target, s, det);
  auto run = [&](PairStart start) {
    CHLOptions o = d;
    o.clamped.method = Method::mala;
    o.clamped.temperature = 1e-10;
    o.clamped.dt = 0.01;
    o.langevin.burn_in = 0;
    o.langevin.start = start;
    Eigen::MatrixXd s0 = Eigen::MatrixXd::Zero(2, 1);
    ContrastiveHebbian<double>(o).estimate(p.model, p.x, p.target, s0, g);
    return test::relative_error(g, det);
  };
  const double fixed_points = run(PairStart::fixed_points), free_end = run(PairStart::free_end);
  test::report("one MALA step at T = 1e-10 from the fixed points: error against deterministic CHL", fixed_points);
  test::report("the same from the free phase's end", free_end);
  EXPECT_LT(fixed_points, 1e-3);
  EXPECT_GT(free_end, 0.1);
}

}  // namespace
}  // namespace ebm
