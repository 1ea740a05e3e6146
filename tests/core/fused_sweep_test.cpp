// The fused fixed-point step (core/fused_sweep.hpp) against the step-by-step path it replaces:
// s ← P(s − dt·g) by Eigen, then the system's gradient. They must agree bit for bit, not to a
// tolerance: the trainer's results, and the figures the README reports, must not depend on
// which path ran. Covered: hidden layers that are and are not a multiple of the packet size,
// every output width the kernel instantiates at its ends (1, 16), free and nudged systems, float
// and double, states outside the box (the clip is active), whole relaxations, the networks that
// must fall back, and NaNs, which the clip must not hide from the divergence check.
#include <gtest/gtest.h>

#include <cmath>

#include "core/cost.hpp"
#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

template <class T>
Matrix<T> random(Index rows, Index cols, double lo, double hi, std::uint64_t seed) {
  return test::uniform_matrix(rows, cols, lo, hi, seed).cast<T>();
}

template <class T>
bool identical(const Matrix<T>& a, const Matrix<T>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::equal(a.data(), a.data() + a.size(), b.data(), [](T x, T y) {
           return std::memcmp(&x, &y, sizeof(T)) == 0;
         });
}

/// A system that hides projected_step, so that relax() takes the step-by-step path.
template <class Sys>
struct StepByStep {
  using Scalar = typename Sys::Scalar;
  const Sys& sys;
  Index state_size() const { return sys.state_size(); }
  Index batch_size() const { return sys.batch_size(); }
  std::vector<Block> layer_blocks() const { return sys.layer_blocks(); }
  RowVector<Scalar> energy(ConstRef<Scalar> s) const { return sys.energy(s); }
  void gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const { sys.gradient(s, g); }
  bool projects() const { return sys.projects(); }
  void project(MutRef<Scalar> s) const { sys.project(s); }
};

/// A network whose hidden units saturate on both sides: weights large enough that the clip acts.
template <class T>
LayeredHopfield<T> network(Index inputs, Index hidden, Index outputs, std::uint64_t seed) {
  LayeredHopfield<T> net({inputs, hidden, outputs});
  net.init_glorot(seed, T(3));
  return net;
}

/// Steps a system both ways from the same (s, g) and compares after every step.
template <class Sys>
void expect_same_steps(const Sys& sys, Index steps, typename Sys::Scalar dt, std::uint64_t seed) {
  using T = typename Sys::Scalar;
  Matrix<T> s = random<T>(sys.state_size(), sys.batch_size(), -0.5, 1.5, seed);
  Matrix<T> g(s.rows(), s.cols());
  sys.gradient(s, g);
  Matrix<T> s_ref = s, g_ref = g;
  for (Index step = 1; step <= steps; ++step) {
    ASSERT_EQ(sys.projected_step(s, g, dt, 1e8), FusedStep::stepped_checked)
        << "the fused path refused a network it covers";
    s_ref -= dt * g_ref;
    sys.project(s_ref);
    sys.gradient(s_ref, g_ref);
    ASSERT_TRUE(identical(s, s_ref)) << "state differs after step " << step << ", largest difference "
                                     << (s - s_ref).cwiseAbs().maxCoeff();
    ASSERT_TRUE(identical(g, g_ref)) << "gradient differs after step " << step << ", largest difference "
                                     << (g - g_ref).cwiseAbs().maxCoeff();
  }
}

template <class T>
void check_free_and_nudged(Index hidden, Index outputs, Index batch) {
  SCOPED_TRACE(testing::Message() << "hidden " << hidden << ", outputs " << outputs << ", batch " << batch);
  const auto net = network<T>(7, hidden, outputs, std::uint64_t(hidden + outputs));
  const Matrix<T> x = random<T>(7, batch, 0, 1, 11);
  const Matrix<T> target = random<T>(outputs, batch, 0, 1, 12);
  FreeSystem<LayeredHopfield<T>> free(net, x);
  expect_same_steps(free, 12, T(1), 21);
  expect_same_steps(free, 12, T(0.3), 22);
  NudgedSystem<LayeredHopfield<T>> nudged(free, target, T(0.5));
  expect_same_steps(nudged, 12, T(1), 23);
  NudgedSystem<LayeredHopfield<T>> pulled_back(free, target, T(-0.5));
  expect_same_steps(pulled_back, 12, T(0.5), 24);
  NudgedSystem<LayeredHopfield<T>, CrossEntropy<T>> cross_entropy(free, target, T(0.2));
  expect_same_steps(cross_entropy, 12, T(1), 25);
}

TEST(FusedSweep, StepMatchesStepByStepBitForBitInFloat) {
  // 56 and 61 rows take every loop of the sweep (two packets, one packet, the scalar tail) for
  // 8- and 16-float packets alike.
  for (Index hidden : {1, 7, 8, 13, 16, 40, 56, 61, 512})
    for (Index outputs : {1, 3, 10, 16}) check_free_and_nudged<float>(hidden, outputs, 5);
  check_free_and_nudged<float>(512, 10, 25);
}

TEST(FusedSweep, StepMatchesStepByStepBitForBitInDouble) {
  for (Index hidden : {1, 3, 4, 9, 40})
    for (Index outputs : {1, 10, 16}) check_free_and_nudged<double>(hidden, outputs, 4);
}

TEST(FusedSweep, RelaxationMatchesStepByStepRelaxation) {
  const auto net = network<float>(20, 64, 10, 3);
  const Matrix<float> x = random<float>(20, 9, 0, 1, 4);
  const Matrix<float> target = random<float>(10, 9, 0, 1, 5);
  FreeSystem<LayeredHopfield<float>> free(net, x);
  NudgedSystem<LayeredHopfield<float>> nudged(free, target, 0.5f);
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.dt = 1.0;
  o.max_steps = 200;
  o.grad_tol = 1e-5;
  for (int phase = 0; phase < 2; ++phase) {
    Matrix<float> fused = Matrix<float>::Constant(net.state_size(), 9, 0.5f), reference = fused;
    RelaxSummary a, b;
    if (phase == 0) {
      a = relax(free, fused, o);
      b = relax(StepByStep<decltype(free)>{free}, reference, o);
    } else {
      a = relax(nudged, fused, o);
      b = relax(StepByStep<decltype(nudged)>{nudged}, reference, o);
    }
    EXPECT_TRUE(identical(fused, reference)) << "phase " << phase;
    EXPECT_EQ(a.steps_accepted, b.steps_accepted);
    EXPECT_EQ(a.gradient_evaluations, b.gradient_evaluations);
    EXPECT_EQ(a.termination, b.termination);
    EXPECT_EQ(a.final_grad_norm, b.final_grad_norm);
    EXPECT_GT(a.steps_accepted, 2) << "a relaxation this short checks little";
  }
}

TEST(FusedSweep, OtherNetworksFallBackUntouched) {
  const Matrix<float> x = random<float>(6, 3, 0, 1, 6);
  auto refuses = [&](const LayeredHopfield<float>& net) {
    FreeSystem<LayeredHopfield<float>> sys(net, x);
    Matrix<float> s = random<float>(net.state_size(), 3, 0, 1, 7), g = random<float>(net.state_size(), 3, -1, 1, 8);
    const Matrix<float> s0 = s, g0 = g;
    const FusedStep fused = sys.projected_step(s, g, 1.0f, 1e8);
    return fused == FusedStep::refused && identical(s, s0) && identical(g, g0);
  };
  LayeredHopfield<float> deep({6, 12, 8, 4});  // two hidden layers
  deep.init_glorot(1);
  EXPECT_TRUE(refuses(deep));
  LayeredHopfield<float> wide_output({6, 12, 17});  // output wider than the kernel's registers
  wide_output.init_glorot(1);
  EXPECT_TRUE(refuses(wide_output));
  LayeredHopfield<float> smooth({6, 12, 4}, Activation::Kind::logistic);  // nothing to clip to
  smooth.init_glorot(1);
  EXPECT_TRUE(refuses(smooth));
}

TEST(FusedSweep, ClipKeepsNaNsForTheDivergenceCheck) {
  const auto net = network<float>(5, 24, 10, 9);
  const Matrix<float> x = random<float>(5, 4, 0, 1, 10);
  FreeSystem<LayeredHopfield<float>> sys(net, x);
  Matrix<float> s = random<float>(net.state_size(), 4, 0, 1, 11), g(net.state_size(), 4);
  sys.gradient(s, g);
  g(3, 1) = std::numeric_limits<float>::quiet_NaN();   // a hidden unit, in a packet
  g(23, 2) = std::numeric_limits<float>::quiet_NaN();  // a hidden unit, in the scalar tail
  g(26, 0) = std::numeric_limits<float>::quiet_NaN();  // an output unit
  ASSERT_EQ(sys.projected_step(s, g, 1.0f, 1e8), FusedStep::stepped) << "a NaN passed the fused check";
  EXPECT_TRUE(std::isnan(s(3, 1)));
  EXPECT_TRUE(std::isnan(s(23, 2)));
  EXPECT_TRUE(std::isnan(s(26, 0)));
  // One NaN anywhere fails the verdict: in a packet, in the tail, in the output rows. An infinite
  // gradient only sends its unit to the box's edge, where the new gradient is finite: checked,
  // as the step-by-step path's checks would find.
  for (const auto& [i, j] : {std::pair<Index, Index>{3, 1}, {23, 2}, {26, 0}, {30, 3}}) {
    Matrix<float> s1 = random<float>(net.state_size(), 4, 0, 1, 12), g1(net.state_size(), 4);
    sys.gradient(s1, g1);
    Matrix<float> s_inf = s1, g_inf = g1;
    g1(i, j) = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(sys.projected_step(s1, g1, 1.0f, 1e8), FusedStep::stepped) << i << ", " << j;
    g_inf(i, j) = std::numeric_limits<float>::infinity();
    EXPECT_EQ(sys.projected_step(s_inf, g_inf, 1.0f, 1e8), FusedStep::stepped_checked) << i << ", " << j;
    EXPECT_EQ(s_inf(i, j), 0.0f);
    EXPECT_TRUE(g_inf.allFinite());
  }
  // A divergence bound inside the box [0, 1] is left to the solver's check.
  Matrix<float> s3 = random<float>(net.state_size(), 4, 0, 1, 13), g3(net.state_size(), 4);
  sys.gradient(s3, g3);
  EXPECT_EQ(sys.projected_step(s3, g3, 1.0f, 0.5), FusedStep::stepped);

  // Through relax(): a NaN drive makes the first fused step's state NaN, which is reported.
  Matrix<float> drive(24, 4);
  net.input_drive(x, drive);
  drive(5, 3) = std::numeric_limits<float>::quiet_NaN();
  FreeSystem<LayeredHopfield<float>> poisoned(net, x, drive);
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.max_steps = 5;
  o.grad_tol = 0;
  o.on_divergence = OnDivergence::stop;
  Matrix<float> s2 = Matrix<float>::Constant(net.state_size(), 4, 0.5f);
  const RelaxSummary summary = relax(poisoned, s2, o);
  EXPECT_EQ(summary.termination, Termination::diverged);
  EXPECT_NE(summary.message.find("step"), std::string::npos) << summary.message;
}

TEST(FusedSweep, NaNInAnyRowFailsTheVerdict) {
  // 61 hidden rows: with 8-float packets two pairs, … , one packet and a tail of 5; with 16-float
  // packets one pair, one packet and a tail of 13. A NaN in each row in turn, in either of the
  // two columns, must reach the verdict whichever loop stepped its row.
  const auto net = network<float>(5, 61, 10, 31);
  const Matrix<float> x = random<float>(5, 2, 0, 1, 32);
  FreeSystem<LayeredHopfield<float>> sys(net, x);
  Matrix<float> s0 = random<float>(net.state_size(), 2, 0, 1, 33), g0(net.state_size(), 2);
  sys.gradient(s0, g0);
  {
    Matrix<float> s = s0, g = g0;
    ASSERT_EQ(sys.projected_step(s, g, 1.0f, 1e8), FusedStep::stepped_checked);
  }
  for (Index i = 0; i < net.state_size(); ++i)
    for (Index j = 0; j < 2; ++j) {
      Matrix<float> s = s0, g = g0;
      g(i, j) = std::numeric_limits<float>::quiet_NaN();
      EXPECT_EQ(sys.projected_step(s, g, 1.0f, 1e8), FusedStep::stepped) << "row " << i << ", column " << j;
      EXPECT_TRUE(std::isnan(s(i, j))) << "row " << i << ", column " << j;
    }
}

}  // namespace
}  // namespace ebm
