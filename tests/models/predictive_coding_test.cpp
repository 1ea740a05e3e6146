#include "models/predictive_coding.hpp"

#include <gtest/gtest.h>

#include "core/system.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

static_assert(check_energy_model<PredictiveCoding<double>>());
static_assert(check_energy_model<PredictiveCoding<float>>());
static_assert(HasSecondOrder<PredictiveCoding<double>>);
static_assert(HasInputDrive<PredictiveCoding<double>>);
static_assert(HasFreeFixedPoint<PredictiveCoding<double>>);

struct PcCase {
  std::vector<Index> sizes;
  Activation::Kind f;
};

class PredictiveCodingDerivatives : public ::testing::TestWithParam<PcCase> {
 protected:
  /// A network with random weights and unequal variances, a random input and a random state
  /// (away from the feed-forward pass, so that every ε and every term is nonzero).
  PredictiveCoding<double> make(std::uint64_t seed) const {
    const PcCase& c = GetParam();
    std::vector<double> variances;
    for (std::size_t k = 1; k < c.sizes.size(); ++k) variances.push_back(0.5 + 0.75 * double(k));
    PredictiveCoding<double> net(c.sizes, c.f, variances);
    net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, seed);
    return net;
  }
};

TEST_P(PredictiveCodingDerivatives, StateGradientMatchesFiniteDifferences) {
  for (std::uint64_t seed : {1u, 2u}) {
    const auto net = make(seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 4, 0, 1, seed, 2);
    const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), 4, -1.5, 1.5, seed, 3);
    Eigen::MatrixXd g(s.rows(), s.cols());
    net.state_gradient(s, x, g);
    const Eigen::MatrixXd fd =
        test::central_difference([&](const Eigen::MatrixXd& v) { return net.energy(v, x).sum(); }, s);
    EXPECT_LE(test::relative_error(g, fd), 1e-7) << "seed " << seed;
  }
}

TEST_P(PredictiveCodingDerivatives, ParamGradientMatchesFiniteDifferences) {
  for (std::uint64_t seed : {3u, 4u}) {
    auto net = make(seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 3, 0, 1, seed, 2);
    const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), 3, -1.5, 1.5, seed, 3);
    Eigen::VectorXd g(net.params().size());
    net.param_gradient(s, x, g);
    const Eigen::VectorXd theta = net.params();
    const Eigen::MatrixXd fd = test::central_difference(
        [&](const Eigen::MatrixXd& p) {
          net.params() = p;
          return net.energy(s, x).sum();
        },
        theta);
    net.params() = theta;
    EXPECT_LE(test::relative_error(g, fd), 1e-7) << "seed " << seed;
  }
}

TEST_P(PredictiveCodingDerivatives, HessianVectorMatchesFiniteDifferencesOfTheGradient) {
  for (std::uint64_t seed : {5u, 6u}) {
    const auto net = make(seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 3, 0, 1, seed, 2);
    const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), 3, -1.5, 1.5, seed, 3);
    const Eigen::MatrixXd v = test::uniform_matrix(net.state_size(), 3, -1, 1, seed, 4);
    Eigen::MatrixXd hv(s.rows(), s.cols()), gp(s.rows(), s.cols()), gm(s.rows(), s.cols());
    net.hessian_vector(s, x, v, hv);
    const double h = 1e-6;
    net.state_gradient(s + h * v, x, gp);
    net.state_gradient(s - h * v, x, gm);
    EXPECT_LE(test::relative_error(hv, (gp - gm) / (2 * h)), 1e-7) << "seed " << seed;
  }
}

TEST_P(PredictiveCodingDerivatives, MixedVectorMatchesFiniteDifferencesOfTheParamGradient) {
  for (std::uint64_t seed : {7u, 8u}) {
    const auto net = make(seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 3, 0, 1, seed, 2);
    const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), 3, -1.5, 1.5, seed, 3);
    const Eigen::MatrixXd v = test::uniform_matrix(net.state_size(), 3, -1, 1, seed, 4);
    Eigen::VectorXd mv(net.params().size()), gp(net.params().size()), gm(net.params().size());
    net.mixed_vector(s, x, v, mv);
    const double h = 1e-6;
    net.param_gradient(s + h * v, x, gp);
    net.param_gradient(s - h * v, x, gm);
    EXPECT_LE(test::relative_error(mv, (gp - gm) / (2 * h)), 1e-7) << "seed " << seed;
  }
}

TEST_P(PredictiveCodingDerivatives, DrivenEvaluationsEqualThePlainOnes) {
  const auto net = make(9);
  const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 5, 0, 1, 9, 2);
  const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), 5, -1.5, 1.5, 9, 3);
  FreeSystem free(net, x);  // takes the driven path
  Eigen::MatrixXd g(s.rows(), s.cols()), g_free(s.rows(), s.cols());
  net.state_gradient(s, x, g);
  free.gradient(s, g_free);
  EXPECT_LE(test::relative_error(g_free, g), 1e-15);
  EXPECT_LE(test::relative_error(free.energy(s), net.energy(s, x)), 1e-15);
}

TEST_P(PredictiveCodingDerivatives, FreeFixedPointIsTheFeedForwardPassWithZeroEnergy) {
  const auto net = make(10);
  const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 4, 0, 1, 10, 2);
  Eigen::MatrixXd s;
  net.free_fixed_point(x, s);
  // The feed-forward pass written out: h_1 = W_1 x + b_1, h_k = W_k f(h_{k-1}) + b_k, linear output.
  const Activation f = GetParam().f;
  Eigen::MatrixXd h = net.weight(1) * x;
  h.colwise() += net.bias(1);
  EXPECT_LE(test::relative_error(net.layer(s, 1), h), 1e-15);
  for (Index k = 2; k <= net.num_layers(); ++k) {
    h = h.unaryExpr([&](double v) { return f.rho(v); }).eval();
    Eigen::MatrixXd next = net.weight(k) * h;
    next.colwise() += net.bias(k);
    h = next;
    EXPECT_LE(test::relative_error(net.layer(s, k), h), 1e-14) << "layer " << k;
  }
  Eigen::MatrixXd g(s.rows(), s.cols());
  net.state_gradient(s, x, g);
  EXPECT_LE(g.norm(), 1e-13);
  EXPECT_LE(net.energy(s, x).maxCoeff(), 1e-28);
  // A strict minimum: H = JᵀΣ⁻¹J there is positive definite (vᵀHv > 0 for random v).
  const Eigen::MatrixXd v = test::uniform_matrix(net.state_size(), 4, -1, 1, 11);
  Eigen::MatrixXd hv(v.rows(), v.cols());
  net.hessian_vector(s, x, v, hv);
  for (Index j = 0; j < v.cols(); ++j) EXPECT_GT(v.col(j).dot(hv.col(j)), 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    LayersAndActivations, PredictiveCodingDerivatives,
    ::testing::Values(PcCase{{3, 2}, Activation::Kind::tanh}, PcCase{{3, 5, 4, 2}, Activation::Kind::tanh},
                      PcCase{{3, 5, 4, 2}, Activation::Kind::logistic}, PcCase{{2, 3, 4, 5, 3}, Activation::Kind::tanh}),
    [](const ::testing::TestParamInfo<PcCase>& info) {
      std::string name;
      for (Index n : info.param.sizes) name += std::to_string(n) + "_";
      return name + std::string(Activation(info.param.f).name());
    });

TEST(PredictiveCoding, EnergyMatchesTheFormulaOnATinyNetwork) {
  // 1-1-1, tanh, Σ = (0.5, 2): F = (h − w1 x − b1)²/(2·0.5) + (y − w2 tanh(h) − b2)²/(2·2).
  PredictiveCoding<double> net({1, 1, 1}, Activation::Kind::tanh, {0.5, 2.0});
  net.weight(1)(0, 0) = 0.7;
  net.weight(2)(0, 0) = -1.3;
  net.bias(1)(0) = 0.2;
  net.bias(2)(0) = -0.4;
  Eigen::MatrixXd x(1, 1), s(2, 1);
  x << 0.9;
  s << 0.3, -0.6;
  const double e1 = 0.3 - 0.7 * 0.9 - 0.2, e2 = -0.6 + 1.3 * std::tanh(0.3) + 0.4;
  EXPECT_NEAR(net.energy(s, x)(0), e1 * e1 / 1.0 + e2 * e2 / 4.0, 1e-15);
}

TEST(PredictiveCoding, ParameterLayoutAndVariances) {
  PredictiveCoding<double> net({4, 3, 2});
  ASSERT_EQ(net.param_blocks().size(), 4u);
  EXPECT_EQ(net.param_blocks()[0].name, "W1");
  EXPECT_EQ(net.param_blocks()[3].name, "b2");
  EXPECT_EQ(net.params().size(), 4 * 3 + 3 * 2 + 3 + 2);
  EXPECT_EQ(net.variance(2), 1.0);
  net.set_variance(2, 16.0);
  EXPECT_EQ(net.variance(2), 16.0);
  EXPECT_THROW(net.set_variance(1, 0.0), InvalidOptions);
  EXPECT_THROW(PredictiveCoding<double>({4, 3, 2}, Activation::Kind::tanh, {1.0}), InvalidOptions);
}

TEST(PredictiveCoding, KindBuildsTheConfiguredNetwork) {
  PredictiveCodingOptions o;
  o.sizes = {6, 5, 3};
  o.hidden_variance = 0.5;
  o.output_variance = 8;
  std::string why;
  ASSERT_TRUE(o.is_valid(&why)) << why;
  const auto net = PredictiveCodingKind::make<double>(o);
  EXPECT_EQ(net.variance(1), 0.5);
  EXPECT_EQ(net.variance(2), 8.0);
  // Fan-in uniform: every weight of layer 1 within ±1/√6, biases not all zero.
  EXPECT_LE(net.weight(1).cwiseAbs().maxCoeff(), 1 / std::sqrt(6.0));
  EXPECT_GT(net.bias(1).cwiseAbs().maxCoeff(), 0.0);
  o.variances = {1.0};
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("model.variances"), std::string::npos) << why;
}

TEST(PredictiveCoding, FloatAgreesWithDouble) {
  PredictiveCoding<double> net({5, 7, 3}, Activation::Kind::logistic, {1.0, 4.0});
  net.init_fan_in_uniform(3);
  PredictiveCoding<float> netf({5, 7, 3}, Activation::Kind::logistic, {1.0f, 4.0f});
  netf.params() = net.params().cast<float>();
  const Eigen::MatrixXd x = test::uniform_matrix(5, 4, 0, 1, 1);
  const Eigen::MatrixXd s = test::uniform_matrix(10, 4, -1, 1, 2);
  Eigen::MatrixXd g(10, 4);
  Eigen::MatrixXf gf(10, 4);
  net.state_gradient(s, x, g);
  netf.state_gradient(s.cast<float>(), x.cast<float>(), gf);
  EXPECT_LE(test::relative_error(gf.cast<double>(), g), 1e-5);
}

}  // namespace
}  // namespace ebm
