#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/activation.hpp"
#include "core/atomic_file.hpp"
#include "core/cost.hpp"
#include "core/random.hpp"
#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

template <class C>
void expect_cost_gradient_matches_finite_differences(const C& cost, const Eigen::MatrixXd& y,
                                                     const Eigen::MatrixXd& d) {
  Eigen::MatrixXd g(y.rows(), y.cols());
  cost.gradient(y, d, g);
  const Eigen::MatrixXd fd = test::central_difference([&](const Eigen::MatrixXd& v) { return cost.value(v, d).sum(); }, y);
  EXPECT_LT(test::relative_error(g, fd), 1e-8);
}

TEST(Cost, SquaredErrorValueAndGradient) {
  const Eigen::MatrixXd y = test::uniform_matrix(4, 3, -1, 1, 1), d = test::uniform_matrix(4, 3, 0, 1, 2);
  SquaredError<double> c;
  EXPECT_NEAR(c.value(y, d)(1), 0.5 * (y.col(1) - d.col(1)).squaredNorm(), 1e-15);
  expect_cost_gradient_matches_finite_differences(c, y, d);
}

TEST(Cost, CrossEntropyIsStableAndItsGradientIsSoftmaxMinusTarget) {
  const Eigen::MatrixXd y = test::uniform_matrix(5, 3, -3, 3, 3);
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(5, 3);
  d(1, 0) = d(4, 1) = d(0, 2) = 1;
  CrossEntropy<double> c;
  expect_cost_gradient_matches_finite_differences(c, y, d);
  // Large logits: no overflow.
  const Eigen::MatrixXd big = 1000 * y;
  EXPECT_TRUE(c.value(big, d).allFinite());
  // Soft targets that do not sum to one.
  expect_cost_gradient_matches_finite_differences(c, y, 0.3 * test::uniform_matrix(5, 3, 0, 1, 4));
}

TEST(Activation, DerivativesMatchFiniteDifferences) {
  for (auto kind : {Activation::Kind::logistic, Activation::Kind::tanh}) {
    const Activation rho(kind);
    for (double s : {-2.0, -0.3, 0.1, 1.7}) {
      const double h = 1e-5;
      EXPECT_NEAR(rho.d_rho(s), (rho.rho(s + h) - rho.rho(s - h)) / (2 * h), 1e-9) << rho.name() << ' ' << s;
      EXPECT_NEAR(rho.d2_rho(s), (rho.d_rho(s + h) - rho.d_rho(s - h)) / (2 * h), 1e-9) << rho.name() << ' ' << s;
    }
  }
  const Activation hard;
  EXPECT_EQ(hard.rho(-0.5), 0.0);
  EXPECT_EQ(hard.rho(0.25), 0.25);
  EXPECT_EQ(hard.rho(3.0), 1.0);
  EXPECT_EQ(hard.d_rho(1.0), 1.0);  // closed interval: the fixed-point update is the plain clip
  EXPECT_EQ(hard.d_rho(1.5), 0.0);
  EXPECT_EQ(Activation::parse("sigmoid"), Activation(Activation::Kind::logistic));
  EXPECT_THROW(Activation::parse("relu"), InvalidOptions);
}

TEST(Random, StreamsAreReproducibleAndDistinct) {
  Rng a(42, 3), b(42, 3), c(42, 4), d(43, 3);
  const std::uint64_t first = a.next();
  EXPECT_EQ(first, b.next());
  EXPECT_NE(first, c.next());
  EXPECT_NE(first, d.next());
  // Normal moments over 200 000 draws, within 5 standard errors.
  Rng r(1, 0);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    sum += z;
    sum2 += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 5 / std::sqrt(double(n)));
  EXPECT_NEAR(sum2 / n, 1.0, 5 * std::sqrt(2.0 / n));
}

TEST(AtomicFile, ReplacesTheWholeFileOrNothing) {
  const auto dir = std::filesystem::temp_directory_path() / "ebm_atomic_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "out.txt";
  write_file_atomically(path, "first\n");
  write_file_atomically(path, "second\n");
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "second");
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename(), "out.txt") << "temporary file left behind";
  EXPECT_THROW(write_file_atomically(dir / "no_such_dir" / "x.txt", "x"), Error);
  std::filesystem::remove_all(dir);
}

TEST(System, NudgedEnergyAddsBetaTimesTheCostAndItsGradient) {
  LayeredHopfield<double> net({3, 4, 2}, Activation::Kind::logistic);
  net.init_glorot(1, 1.0);
  const Eigen::MatrixXd x = test::uniform_matrix(3, 2, 0, 1, 1), d = test::uniform_matrix(2, 2, 0, 1, 2),
                        s = test::uniform_matrix(6, 2, -1, 1, 3);
  NudgedSystem sys(net, x, d, 0.3);
  const Eigen::RowVectorXd expected = net.energy(s, x) + 0.3 * SquaredError<double>().value(s.bottomRows(2), d);
  EXPECT_LT((sys.energy(s) - expected).norm(), 1e-14);
  Eigen::MatrixXd g(6, 2);
  sys.gradient(s, g);
  const Eigen::MatrixXd fd = test::central_difference([&](const Eigen::MatrixXd& v) { return sys.energy(v).sum(); }, s);
  EXPECT_LT(test::relative_error(g, fd), 1e-8);
  // β = 0 is the free phase; a negative β is allowed (symmetric EP).
  sys.set_beta(0);
  FreeSystem free_phase(net, x);
  Eigen::MatrixXd g0(6, 2);
  free_phase.gradient(s, g0);
  sys.gradient(s, g);
  EXPECT_EQ(g, g0);
  sys.set_beta(-0.3);
  EXPECT_LT((sys.energy(s) - (2 * net.energy(s, x) - expected)).norm(), 1e-14);
}

}  // namespace
}  // namespace ebm
