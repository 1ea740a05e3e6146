#include "learning/gradient_checker.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "learning/equilibrium_prop.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

TEST(GradientChecker, MetricsOnKnownVectors) {
  const Eigen::VectorXd ref = (Eigen::VectorXd(4) << 1, -2, 3, -4).finished();
  GradientMetrics m = compare_gradients(Eigen::VectorXd(2 * ref), ref);
  EXPECT_NEAR(m.relative_error, 1.0, 1e-15);
  EXPECT_NEAR(m.cosine, 1.0, 1e-15);
  EXPECT_NEAR(m.norm_ratio, 2.0, 1e-15);
  EXPECT_EQ(m.sign_agreement, 1.0);
  m = compare_gradients(Eigen::VectorXd(-ref), ref);
  EXPECT_NEAR(m.cosine, -1.0, 1e-15);
  EXPECT_EQ(m.sign_agreement, 0.0);
  EXPECT_NEAR(fitted_order({0.1, 0.05, 0.025}, {3 * 0.01, 3 * 0.0025, 3 * 0.000625}), 2.0, 1e-12);
}

TEST(GradientChecker, ReportsPerBlockPerLayerAndFitsTheOrder) {
  const test::SmallProblem p;
  ExactGradientOptions exact;
  exact.free = test::tight_relax();
  auto checker = GradientChecker<double>::against_exact(p.net, p.x, p.d, exact);
  checker.sweep_estimator("ep_symmetric", "beta", {0.05, 0.025, 0.0125}, p.net, p.x, p.d, [&](double beta) {
    EPOptions o;
    o.free = o.nudged = test::tight_relax();
    o.beta = beta;
    o.variant = EPVariant::symmetric;
    return EquilibriumProp<double>(o);
  });
  const GradientReport& r = checker.report();
  // 3 layers + 6 blocks + all, at 3 settings.
  EXPECT_EQ(r.rows().size(), 30u);
  for (const char* g : {"W1", "b3", "layer2", "all"}) EXPECT_NEAR(r.find("ep_symmetric", g, 0.0125).order, 2.0, 0.1) << g;
  EXPECT_NEAR(r.find("ep_symmetric", "all", 0.0125).metrics.norm_ratio, 1.0, 1e-3);
  const std::string table = r.table();
  EXPECT_NE(table.find("layer3"), std::string::npos);
  EXPECT_EQ(table.find("W1"), std::string::npos);  // blocks only on request
  EXPECT_NE(r.table(true).find("W1"), std::string::npos);
  const auto path = std::filesystem::temp_directory_path() / "ebm_gradient_checker_test.csv";
  r.write_csv(path);
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  std::getline(in, line);
  EXPECT_EQ(line, "estimator,setting,value,group,relative_error,cosine,norm_ratio,sign_agreement,order");
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 30);
  std::filesystem::remove(path);
}

TEST(GradientChecker, RejectsAnEstimateOfTheWrongSize) {
  GradientChecker<double> c({{"w", 0, 2, 1}}, Eigen::VectorXd::Ones(2));
  EXPECT_THROW(c.add("x", Eigen::VectorXd::Ones(3)), DimensionMismatch);
}

}  // namespace
}  // namespace ebm
