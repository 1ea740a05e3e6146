// The convolutional Hopfield energy (models/conv_hopfield.hpp): every derivative against finite
// differences (double, tanh), max pooling's subgradient, EP's halving ratios and the exact
// gradient against finite differences of the relaxed cost, on small conv nets.

#include "models/conv_hopfield.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "core/system.hpp"
#include "learning/ep_verification.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/gradient_checker.hpp"
#include "solvers/relax.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

void report(const std::string& what, double value) { std::printf("  [measured] %s = %.4g\n", what.c_str(), value); }

static_assert(check_energy_model<ConvHopfield<double>>());
static_assert(HasSecondOrder<ConvHopfield<double>> && HasInputDrive<ConvHopfield<float>>);

/// Input 2×6×6; conv 3 ch 3×3 pad 1 pool 2 → 3×3×3; conv 4 ch 2×2 pad 0 no pool → 4×2×2; dense 5, 3.
struct ConvProblem {
  ConvHopfield<double> net;
  Eigen::MatrixXd x, d;
  explicit ConvProblem(conv::PoolKind pooling, Index batch = 3, std::uint64_t seed = 5, double gain = 1.5,
                       std::vector<ConvLayerSpec> convs = {{3, 3, 1, 2}, {4, 2, 0, 1}}, std::vector<Index> dense = {5, 3})
      : net({2, 6, 6}, std::move(convs), std::move(dense), pooling, Activation::Kind::tanh) {
    net.init_fan_in_uniform(seed, std::vector<double>(std::size_t(net.num_layers()), gain));
    x = test::uniform_matrix(net.input_size(), batch, 0, 1, seed, 3);
    d = test::uniform_matrix(net.output_block().size, batch, -0.8, 0.8, seed, 4);
  }
  Eigen::MatrixXd random_state(std::uint64_t stream, double scale = 1.0) const {
    return test::uniform_matrix(net.state_size(), x.cols(), -scale, scale, 9, stream);
  }
};

class ConvDerivatives : public ::testing::TestWithParam<conv::PoolKind> {};

TEST_P(ConvDerivatives, StateGradientIsTheDerivativeOfTheEnergy) {
  ConvProblem p(GetParam());
  const Eigen::MatrixXd s = p.random_state(1);
  Eigen::MatrixXd g(s.rows(), s.cols());
  p.net.state_gradient(s, p.x, g);
  const Eigen::MatrixXd fd = test::central_difference([&](const Eigen::MatrixXd& sv) { return p.net.energy(sv, p.x).sum(); }, s);
  const double err = test::relative_error(g, fd);
  report("state gradient vs finite differences", err);
  EXPECT_LE(err, 1e-7);
  // The driven path (a system's) gives the same bits as the plain one.
  Eigen::MatrixXd drive(p.net.input_drive_rows(), s.cols()), g2(s.rows(), s.cols());
  p.net.input_drive(p.x, drive);
  ConvHopfield<double>::Workspace ws;
  p.net.state_gradient_driven(s, drive, g2, ws);
  EXPECT_EQ(g, g2);
  EXPECT_EQ(p.net.energy(s, p.x), p.net.energy_driven(s, drive, ws));
}

TEST_P(ConvDerivatives, ParamGradientIsTheDerivativeOfTheEnergy) {
  ConvProblem p(GetParam());
  const Eigen::MatrixXd s = p.random_state(2);
  Eigen::VectorXd g(p.net.params().size());
  p.net.param_gradient(s, p.x, g);
  const Eigen::VectorXd theta = p.net.params();
  const Eigen::MatrixXd fd = test::central_difference(
      [&](const Eigen::MatrixXd& th) {
        p.net.params() = th;
        return p.net.energy(s, p.x).sum();
      },
      theta);
  p.net.params() = theta;
  for (const ParamBlock& b : p.net.param_blocks()) {
    const double err = test::relative_error(g.segment(b.offset, b.size()), fd.col(0).segment(b.offset, b.size()));
    EXPECT_LE(err, 1e-7) << b.name;
  }
  report("param gradient vs finite differences", test::relative_error(g, fd.col(0)));
}

TEST_P(ConvDerivatives, HessianVectorIsTheDerivativeOfTheStateGradient) {
  ConvProblem p(GetParam());
  const Eigen::MatrixXd s = p.random_state(3), v = p.random_state(4);
  Eigen::MatrixXd hv(s.rows(), s.cols()), gp(s.rows(), s.cols()), gm(s.rows(), s.cols());
  p.net.hessian_vector(s, p.x, v, hv);
  const double h = 1e-6;
  p.net.state_gradient(s + h * v, p.x, gp);
  p.net.state_gradient(s - h * v, p.x, gm);
  const double err = test::relative_error(hv, (gp - gm) / (2 * h));
  report("Hessian-vector vs finite differences", err);
  EXPECT_LE(err, 1e-7);
}

TEST_P(ConvDerivatives, MixedVectorIsTheDerivativeOfTheParamGradient) {
  ConvProblem p(GetParam());
  const Eigen::MatrixXd s = p.random_state(5), v = p.random_state(6);
  Eigen::VectorXd mv(p.net.params().size()), gp(mv.size()), gm(mv.size());
  p.net.mixed_vector(s, p.x, v, mv);
  const double h = 1e-6;
  p.net.param_gradient(s + h * v, p.x, gp);
  p.net.param_gradient(s - h * v, p.x, gm);
  const double err = test::relative_error(mv, (gp - gm) / (2 * h));
  report("mixed vector vs finite differences", err);
  EXPECT_LE(err, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Pooling, ConvDerivatives, ::testing::Values(conv::PoolKind::max, conv::PoolKind::average),
                         [](const auto& info) { return std::string(enum_name(info.param)); });

// Max pooling's subgradient: the gradient of a window's max goes to its argmax, ties to the first
// index of the window's row-major scan; at a tie that one-hot is a subgradient of the (convex) max,
// max(z + t) ≥ max(z) + g·t for every t, and the one-sided derivative along it is exact.
TEST(ConvPooling, MaxSubgradientGoesToTheFirstArgmaxAndIsASubgradient) {
  conv::ConvGeometry g{1, 2, 2, 1, 1, 0, 2};  // one channel, 2×2 conv output, one 2×2 window
  std::int32_t am = -1;
  double out = 0;
  const double tie[4] = {0.5, 0.9, 0.9, 0.9};  // (0,1), (1,0), (1,1) tie
  conv::pool(g, conv::PoolKind::max, tie, 1, &out, 1, &am, false);
  EXPECT_EQ(out, 0.9);
  EXPECT_EQ(am, 1);  // the first of the tied entries in the scan
  double back[4];
  const double w = 2.0;
  conv::unpool(g, conv::PoolKind::max, &w, 1, 1, &am, back);
  EXPECT_EQ(back[0], 0.0);
  EXPECT_EQ(back[1], 2.0);
  EXPECT_EQ(back[2], 0.0);
  EXPECT_EQ(back[3], 0.0);
  // Subgradient inequality along random directions; exact one-sided derivative along e₁.
  const Eigen::MatrixXd dirs = test::uniform_matrix(4, 50, -1, 1, 3, 1);
  for (Index j = 0; j < dirs.cols(); ++j) {
    double z[4], m = 0;
    for (int i = 0; i < 4; ++i) z[i] = tie[i] + 1e-3 * dirs(i, j);
    conv::pool(g, conv::PoolKind::max, z, 1, &m, 1, static_cast<std::int32_t*>(nullptr), false);
    EXPECT_GE(m - 0.9, 1e-3 * dirs(1, j) - 1e-15) << j;
  }
  const double up[4] = {0.5, 0.9 + 1e-4, 0.9, 0.9};
  double m = 0;
  conv::pool(g, conv::PoolKind::max, up, 1, &m, 1, static_cast<std::int32_t*>(nullptr), false);
  EXPECT_NEAR((m - 0.9) / 1e-4, 1.0, 1e-9);
  // Away from ties a model's energy is smooth: its state gradient with max pooling matches the
  // derivative (ConvDerivatives above); at a tie inside a model, the first index takes it.
  ConvHopfield<double> net({1, 2, 2}, {{1, 1, 0, 2}}, {1}, conv::PoolKind::max, Activation::Kind::tanh);
  net.params().setZero();
  net.weight(1)(0, 0) = 1.0;  // the conv is the identity: the pool sees the input
  net.weight(2)(0, 0) = 1.0;
  Eigen::MatrixXd x(4, 1);
  x << 0.5, 0.9, 0.9, 0.9;
  Eigen::MatrixXd s = Eigen::MatrixXd::Constant(2, 1, 0.3), v(2, 1);
  v << 1.0, 0.0;
  Eigen::VectorXd mv(net.params().size()), pg(net.params().size());
  net.param_gradient(s, x, pg);
  // ∂E/∂W₁ = −ρ(s₁)·z[argmax]: the gradient of W₁ reads the first tied pixel, 0.9.
  EXPECT_NEAR(pg[0], -std::tanh(0.3) * 0.9, 1e-15);
  net.mixed_vector(s, x, v, mv);
  EXPECT_NEAR(mv[0], -(1 - std::tanh(0.3) * std::tanh(0.3)) * 0.9, 1e-15);
}

TEST(ConvPooling, AveragePoolAndUnpoolAreAdjoint) {
  conv::ConvGeometry g{1, 4, 4, 3, 1, 0, 2};
  const Eigen::MatrixXd z = test::uniform_matrix(g.conv_size(), 2, -1, 1, 1, 1);
  const Eigen::MatrixXd w = test::uniform_matrix(g.out_size(), 2, -1, 1, 1, 2);
  Eigen::MatrixXd pz(g.out_size(), 2), uw(g.conv_size(), 2);
  conv::pool(g, conv::PoolKind::average, z.data(), 2, pz.data(), pz.rows(), static_cast<std::int32_t*>(nullptr), false);
  conv::unpool(g, conv::PoolKind::average, w.data(), w.rows(), 2, static_cast<const std::int32_t*>(nullptr), uw.data());
  EXPECT_NEAR((pz.array() * w.array()).sum(), (z.array() * uw.array()).sum(), 1e-14);
}

// Central differences of J(θ) = Σ C(s*(θ), d), re-relaxing to ‖∂E/∂s‖ < 1e-13 from a warm start,
// against the implicit (recurrent backprop) gradient from hessian_vector and mixed_vector.
TEST(ConvHopfield, ExactGradientMatchesFiniteDifferencesOfTheRelaxedCost) {
  for (conv::PoolKind pooling : {conv::PoolKind::average, conv::PoolKind::max}) {
    ConvProblem p(pooling, 2, 7, 1.0, {{2, 3, 1, 2}}, {3});
    RelaxOptions tight;
    tight.method = Method::rk4;
    tight.dt = 0.25;
    tight.grad_tol = 1e-13;
    tight.max_steps = 200000;
    Eigen::MatrixXd s0 = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
    {
      FreeSystem sys(p.net, p.x);
      relax(sys, s0, tight);
    }
    const auto exact = implicit_gradient(p.net, s0, p.x, p.d);
    const Eigen::VectorXd theta = p.net.params();
    const Eigen::MatrixXd fd = test::central_difference(
        [&](const Eigen::MatrixXd& th) {
          p.net.params() = th;
          Eigen::MatrixXd sw = s0;
          FreeSystem sys(p.net, p.x);
          relax(sys, sw, tight);
          const Block out = p.net.output_block();
          return SquaredError<double>{}.value(sw.middleRows(out.offset, out.size), p.d).sum();
        },
        theta, 1e-6);
    p.net.params() = theta;
    const double err = test::relative_error(exact.grad, fd.col(0));
    report(std::string("exact vs finite differences of the relaxed cost, ") + std::string(enum_name(pooling)), err);
    EXPECT_LE(err, 1e-6);
  }
}

// EP against the exact gradient over halving β: one-sided error ratio ≈ 2, symmetric ≈ 4.
TEST(ConvHopfield, EquilibriumPropagationHalvingRatios) {
  for (conv::PoolKind pooling : {conv::PoolKind::average, conv::PoolKind::max}) {
    ConvProblem p(pooling, 2, 11, 1.0, {{2, 3, 1, 2}}, {3});
    VerificationRelax tight;
    const FreePoint<double> ref = free_point(p.net, p.x, p.d, SquaredError<double>{}, tight.achievable, tight);
    const auto exact = implicit_gradient(p.net, ref.s, p.x, p.d);
    std::vector<double> one, sym;
    const std::vector<double> betas{0.05, 0.025, 0.0125, 0.00625};
    for (double b : betas) {
      const EPPoint<double> pt = ep_point(p.net, p.x, p.d, SquaredError<double>{}, ref, b, tight);
      one.push_back(test::relative_error(pt.plus, exact.grad));
      sym.push_back(test::relative_error(pt.symmetric, exact.grad));
    }
    for (std::size_t i = 1; i < betas.size(); ++i) {
      const double r1 = one[i - 1] / one[i], r2 = sym[i - 1] / sym[i];
      report(std::string(enum_name(pooling)) + " one-sided halving ratio at beta " + std::to_string(betas[i]), r1);
      report(std::string(enum_name(pooling)) + " symmetric halving ratio at beta " + std::to_string(betas[i]), r2);
      EXPECT_GE(r1, 1.7);
      EXPECT_LE(r1, 2.3);
      EXPECT_GE(r2, 3.5);
      EXPECT_LE(r2, 4.5);
    }
    report(std::string(enum_name(pooling)) + " one-sided rel. error at beta 0.05", one.front());
    report(std::string(enum_name(pooling)) + " symmetric rel. error at beta 0.05", sym.front());
  }
}

// Max pooling over states (a pooling above a convolution of the layer below's states) makes the
// energy non-differentiable at its minimum: where the feedback pushes a window's maximum below its
// runner-up the argmax switches, and the state slides along the tie. A verification relaxation
// must stop on its stall test there rather than run its 200 000-step budget (as `ebm gradcheck`
// did on images), on a flat input (exact ties) and on a random one alike; with average pooling the
// same network converges to the verification tolerance.
TEST(ConvHopfield, VerificationRelaxationStallsWhereMaxPoolingSlidesAndConvergesWithAverage) {
  const std::vector<ConvLayerSpec> convs = {{3, 3, 1, 1}, {4, 3, 1, 2}};  // the pooling acts on states
  for (conv::PoolKind pooling : {conv::PoolKind::max, conv::PoolKind::average})
    for (bool flat : {true, false}) {
      ConvProblem p(pooling, 2, 5, 1.5, convs, {3});
      if (flat) p.x.setConstant(0.5);
      FreeSystem sys(p.net, p.x);
      Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
      RelaxOptions o = VerificationRelax{}.method;
      o.grad_tol = 1e-13;
      const RelaxSummary r = relax(sys, s, o);
      const std::string what =
          std::string(pooling == conv::PoolKind::max ? "max" : "average") + (flat ? " pooling, flat input" : " pooling, random input");
      report(what + ": steps", double(r.steps_accepted));
      report(what + ": residual", r.final_grad_norm);
      if (pooling == conv::PoolKind::max) {
        EXPECT_EQ(r.termination, Termination::stalled) << what << ": " << r.full_report();
        EXPECT_GT(r.final_grad_norm, 1e-3) << what;
        EXPECT_LT(r.steps_accepted, 4 * o.stall_steps) << what << ": " << r.full_report();
      } else {
        EXPECT_EQ(r.termination, Termination::converged) << what << ": " << r.full_report();
      }
    }
}

TEST(ConvHopfield, FloatAgreesWithDoubleAndOptionsAreChecked) {
  ConvHopfieldOptions o;
  o.input_shape = {1, 8, 8};
  o.channels = {4, 6};
  o.kernels = {3, 3};
  o.paddings = {1, 1};
  o.pools = {2, 2};
  o.dense = {10};
  std::string why;
  ASSERT_TRUE(o.is_valid(&why)) << why;
  const auto nd = ConvHopfieldKind::make<double>(o);
  const auto nf = ConvHopfieldKind::make<float>(o);
  EXPECT_EQ(nd.state_size(), 4 * 4 * 4 + 6 * 2 * 2 + 10);
  const Eigen::MatrixXd x = test::uniform_matrix(64, 5, 0, 1, 2, 1);
  const Eigen::MatrixXd s = test::uniform_matrix(nd.state_size(), 5, 0, 1, 2, 2);
  Eigen::MatrixXd gd(s.rows(), s.cols());
  Eigen::MatrixXf gf(s.rows(), s.cols());
  nd.state_gradient(s, x, gd);
  nf.state_gradient(s.cast<float>(), x.cast<float>(), gf);
  EXPECT_LE(test::relative_error(gf.cast<double>(), gd), 1e-5);
  o.kernels = {3};
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("model.kernels"), std::string::npos) << why;
  o.kernels = {9, 3};
  o.paddings = {0, 0};
  EXPECT_FALSE(o.is_valid(&why));
}

}  // namespace
}  // namespace ebm
