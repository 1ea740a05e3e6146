#include "solvers/langevin.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/system.hpp"
#include "models/ornstein_uhlenbeck.hpp"
#include "models/quadratic.hpp"
#include "solvers/parallel.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

// THEORY.md §6: A = [[2, .6], [.6, 1]], T = 0.7.
Quadratic<double> theory_quadratic() {
  Eigen::Matrix2d a;
  a << 2.0, 0.6, 0.6, 1.0;
  return Quadratic<double>(a, Eigen::Vector2d(0.3, -0.5));
}
constexpr double kTemperature = 0.7;

Eigen::Matrix2d sample_covariance(const Eigen::MatrixXd& s) {
  const Eigen::MatrixXd centred = s.colwise() - s.rowwise().mean();
  return centred * centred.transpose() / double(s.cols() - 1);
}

// Standard error of a sample variance σ² from n independent draws: σ²√(2/(n−1)).
double variance_se(double variance, Index n) { return variance * std::sqrt(2.0 / double(n - 1)); }

TEST(Langevin, OneStepConditionalVarianceIs2Th) {
  const Quadratic<double> q = theory_quadratic();
  const Eigen::MatrixXd none(0, 20000);
  FreeSystem sys(q, none);
  const Eigen::Vector2d s0(1.0, 2.0);
  Eigen::MatrixXd s = s0.replicate(1, 20000);
  LangevinOptions options;
  options.temperature = kTemperature;
  options.dt = 0.05;
  options.steps = 1;
  options.seed = 17;
  langevin(sys, s, options);
  const double expected = 2 * kTemperature * options.dt;
  const Eigen::Matrix2d cov = sample_covariance(s);
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(cov(i, i), expected, 5 * variance_se(expected, s.cols())) << i;
  EXPECT_NEAR(cov(0, 1), 0.0, 5 * expected / std::sqrt(double(s.cols())));
  // The mean moved by one drift step.
  const Eigen::Vector2d mean = s0 - options.dt * q.a() * (s0 - q.minimum());
  for (int i = 0; i < 2; ++i)
    EXPECT_NEAR(s.row(i).mean(), mean(i), 5 * std::sqrt(expected / double(s.cols())));
}

// Independent chains from the minimum, run long enough to forget it (λ_min ≈ 0.74, t = 40).
Eigen::MatrixXd stationary_samples(LangevinMethod method, double h, Index chains, LangevinSummary* summary) {
  const Quadratic<double> q = theory_quadratic();
  const Eigen::MatrixXd none(0, chains);
  FreeSystem sys(q, none);
  Eigen::MatrixXd s = q.minimum().replicate(1, chains);
  LangevinOptions options;
  options.method = method;
  options.temperature = kTemperature;
  options.dt = h;
  options.steps = long(std::ceil(40.0 / h));
  options.seed = 2026;
  *summary = langevin(sys, s, options);
  return s;
}

TEST(Langevin, UlaStationaryCovarianceCarriesItsStepBias) {
  const Quadratic<double> q = theory_quadratic();
  const OrnsteinUhlenbeck<double> ou(q, kTemperature);
  const double h = 0.2;
  const Index n = 20000;
  LangevinSummary summary;
  const Eigen::MatrixXd s = stationary_samples(LangevinMethod::ula, h, n, &summary);
  const Eigen::Matrix2d cov = sample_covariance(s);
  const Eigen::MatrixXd predicted = ou.ula_stationary_covariance(h);
  const Eigen::MatrixXd gibbs = ou.stationary_covariance();
  EXPECT_NEAR(predicted(0, 0), 0.515, 5e-4);  // THEORY.md's figure
  for (int i = 0; i < 2; ++i) {
    const double se = variance_se(predicted(i, i), n);
    EXPECT_NEAR(cov(i, i), predicted(i, i), 5 * se) << i;
    // … and the O(h) bias is real: the Gibbs variance T A⁻¹ is many standard errors away.
    EXPECT_GT(std::abs(cov(i, i) - gibbs(i, i)), 5 * se) << i;
  }
  const double se01 = std::sqrt((predicted(0, 0) * predicted(1, 1) + predicted(0, 1) * predicted(0, 1)) / double(n));
  EXPECT_NEAR(cov(0, 1), predicted(0, 1), 5 * se01);
  EXPECT_EQ(summary.steps, 200);
  EXPECT_DOUBLE_EQ(summary.acceptance_rate(), 1.0);
}

TEST(Langevin, MalaSamplesTheGibbsLawExactly) {
  const Quadratic<double> q = theory_quadratic();
  const OrnsteinUhlenbeck<double> ou(q, kTemperature);
  const Index n = 20000;
  LangevinSummary summary;
  const Eigen::MatrixXd s = stationary_samples(LangevinMethod::mala, 0.5, n, &summary);
  const Eigen::Matrix2d cov = sample_covariance(s);
  const Eigen::MatrixXd gibbs = ou.stationary_covariance();
  const Eigen::MatrixXd ula = ou.ula_stationary_covariance(0.5);
  for (int i = 0; i < 2; ++i) {
    const double se = variance_se(gibbs(i, i), n);
    EXPECT_NEAR(cov(i, i), gibbs(i, i), 5 * se) << i;
    EXPECT_GT(std::abs(cov(i, i) - ula(i, i)), 5 * se) << "MALA must remove ULA's bias";
  }
  EXPECT_NEAR(summary.acceptance_rate(), 0.73, 0.02);  // THEORY.md §6
  EXPECT_EQ(summary.proposals, 80 * n);
}

TEST(Langevin, ChainsAreBitIdenticalWhateverTheThreadsAndChunks) {
  const Quadratic<double> q = theory_quadratic();
  LangevinOptions options;
  options.temperature = kTemperature;
  options.dt = 0.1;
  options.steps = 50;
  options.seed = 5;
  for (LangevinMethod method : {LangevinMethod::ula, LangevinMethod::mala}) {
    options.method = method;
    auto run = [&](int threads, Index chunk) {
      Eigen::MatrixXd s = test::uniform_matrix(2, 100, -1, 1, 3);
      const auto summary = parallel_relax(s, ParallelOptions{threads, chunk}, [&](Eigen::MatrixXd& sc, Index first) {
        const Eigen::MatrixXd none(0, sc.cols());
        FreeSystem sys(q, none);
        return langevin(sys, sc, options, first);
      });
      EXPECT_EQ(summary.examples, 100);
      return s;
    };
    const Eigen::MatrixXd one_thread = run(1, 16);
    EXPECT_EQ(one_thread, run(2, 16)) << to_string(method);
    EXPECT_EQ(one_thread, run(2, 7)) << to_string(method) << ": each example has its own noise stream";
    EXPECT_EQ(one_thread, run(1, 100)) << to_string(method);
    options.seed = 6;
    EXPECT_NE(one_thread, run(2, 16)) << "another seed, other noise";
    options.seed = 5;
  }
}

TEST(Langevin, WorksInSinglePrecision) {
  Eigen::Matrix2f a;
  a << 2.0f, 0.6f, 0.6f, 1.0f;
  const Quadratic<float> q(a, Eigen::Vector2f::Zero());
  const Index n = 8000;
  const Eigen::MatrixXf none(0, n);
  FreeSystem sys(q, none);
  Eigen::MatrixXf s = Eigen::MatrixXf::Zero(2, n);
  LangevinOptions options;
  options.method = LangevinMethod::mala;
  options.temperature = kTemperature;
  options.dt = 0.5;
  options.steps = 80;
  langevin(sys, s, options);
  const Eigen::Matrix2d cov = sample_covariance(s.cast<double>());
  const Eigen::Matrix2d gibbs = kTemperature * a.cast<double>().inverse();
  EXPECT_NEAR(cov(0, 0), gibbs(0, 0), 5 * variance_se(gibbs(0, 0), n));
}

TEST(Langevin, ObserversSeeEveryStep) {
  const Quadratic<double> q = theory_quadratic();
  const Eigen::MatrixXd none(0, 4);
  FreeSystem sys(q, none);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(2, 4);
  LangevinOptions options;
  options.steps = 10;
  TraceRecorder<double> trace;
  langevin(sys, s, options, trace);
  ASSERT_EQ(trace.rows().size(), 11u);
  EXPECT_NEAR(trace.rows().back().t, 10 * options.dt, 1e-12);
}

TEST(Langevin, BadOptionsAndDivergenceAreNamed) {
  const Quadratic<double> q = theory_quadratic();
  const Eigen::MatrixXd none(0, 3);
  FreeSystem sys(q, none);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(2, 3);
  auto message = [&](const LangevinOptions& o) {
    try {
      langevin(sys, s, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  LangevinOptions o;
  o.temperature = 0;
  EXPECT_NE(message(o).find("langevin.temperature"), std::string::npos);
  o = {};
  o.dt = std::nan("");
  EXPECT_NE(message(o).find("langevin.dt"), std::string::npos);
  o = {};
  o.steps = -1;
  EXPECT_NE(message(o).find("langevin.steps"), std::string::npos);
  EXPECT_THROW(parse_langevin_method("hmc"), InvalidOptions);
  // h far beyond 2/λ_max: the chain explodes, and the error says where.
  o = {};
  o.dt = 3.0;
  o.steps = 1000;
  o.divergence_bound = 1e6;
  const std::string m = message(o);
  EXPECT_NE(m.find("ula Langevin diverged at step"), std::string::npos) << m;
  EXPECT_NE(m.find("example"), std::string::npos) << m;
}

}  // namespace
}  // namespace ebm
