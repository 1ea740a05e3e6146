// Heavy-ball momentum in the fixed-point relaxation (RelaxOptions::momentum, solvers/relax.hpp):
// the same fixed points as the plain iteration, the square-root speed-up on a slow mode, the
// per-example restart, and nothing that depends on how a batch is split.
#include <gtest/gtest.h>

#include <cmath>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "models/quadratic.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

// Steps of fixed_point (ε = 1) to bring a quadratic whose Hessian has eigenvalues in [h, 1] to a
// residual of 1e-10, with momentum μ.
long steps_to_converge(double h, double mu, Eigen::MatrixXd* end = nullptr) {
  const Quadratic<double> q(test::spd_matrix(6, h, 1.0, 4), test::uniform_matrix(6, 1, -1, 1, 4, 7));
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(6, 3, -2, 2, 9);
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.dt = 1.0;
  o.momentum = mu;
  o.grad_tol = 1e-10;
  o.max_steps = 1000000;
  o.t_max = 1e9;
  const RelaxSummary r = relax(sys, s, o);
  EXPECT_EQ(r.termination, Termination::converged) << r.full_report();
  for (Index j = 0; j < s.cols(); ++j) EXPECT_LE((s.col(j) - q.minimum()).norm(), 1e-10 / h) << "mu " << mu;
  if (end) *end = s;
  return r.steps_accepted;
}

// Polyak's tuning for eigenvalues in [h, 1] at step 1: μ = (1 − √h)², rate √μ = 1 − √h per step.
double polyak(double h) { return (1 - std::sqrt(h)) * (1 - std::sqrt(h)); }

// The plain iteration needs ~ln(1/tol)/h steps, heavy ball ~ln(1/tol)/√h: dividing h by 4
// multiplies the first by 4 and the second by 2. Both land on the analytic minimum.
TEST(RelaxMomentum, ASlowModeConvergesInSquareRootOfThePlainSteps) {
  const long plain_1 = steps_to_converge(4e-3, 0), plain_2 = steps_to_converge(1e-3, 0);
  const long ball_1 = steps_to_converge(4e-3, polyak(4e-3)), ball_2 = steps_to_converge(1e-3, polyak(1e-3));
  const double plain_ratio = double(plain_2) / double(plain_1), ball_ratio = double(ball_2) / double(ball_1);
  EXPECT_GT(plain_ratio, 3.5) << plain_1 << " -> " << plain_2;
  EXPECT_LT(plain_ratio, 4.5) << plain_1 << " -> " << plain_2;
  EXPECT_GT(ball_ratio, 1.5) << ball_1 << " -> " << ball_2;
  EXPECT_LT(ball_ratio, 2.7) << ball_1 << " -> " << ball_2;
  EXPECT_LT(ball_2 * 10, plain_2) << ball_2 << " against " << plain_2;
}

// Heavy ball with μ = 0.99 on a well-conditioned quadratic rings at rate √0.99 per step and would
// need ~4600 steps; dropping the velocity whenever it points uphill cuts that to a few hundred.
TEST(RelaxMomentum, RestartingUphillVelocityStopsTheRinging) {
  const long steps = steps_to_converge(0.5, 0.99);
  EXPECT_LT(steps, 1000);
}

TEST(RelaxMomentum, RestartDropsTheVelocityOfExactlyTheExamplesGoingUphill) {
  Eigen::MatrixXd g(2, 3), v(2, 3);
  g << 1, 1, 1,  //
      0, 0, 0;
  v << 1, -1, 0,  //
      5, 5, 5;
  detail::restart_uphill(g, v);
  EXPECT_EQ(v.col(0), Eigen::Vector2d::Zero());  // g·v = 1 > 0: uphill
  EXPECT_EQ(v.col(1), Eigen::Vector2d(-1, 5));   // downhill: kept
  EXPECT_EQ(v.col(2), Eigen::Vector2d(0, 5));    // orthogonal: kept
}

// A hard-sigmoid network: with momentum (both schedules) the states stay in the box and reach the
// constrained minimum plain Euler reaches.
TEST(RelaxMomentum, ReachesTheSameConstrainedMinimumAndStaysInTheBox) {
  LayeredHopfield<double> net({6, 8, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(7, 2.0);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 5, 0, 1, 3);
  FreeSystem sys(net, x);
  RelaxOptions euler;
  euler.method = Method::euler;
  euler.dt = 0.5;
  Eigen::MatrixXd reference = Eigen::MatrixXd::Zero(net.state_size(), 5);
  ASSERT_TRUE(relax(sys, reference, euler).converged());
  for (Schedule schedule : {Schedule::synchronous, Schedule::alternating}) {
    RelaxOptions o;
    o.method = Method::fixed_point;
    o.dt = 1.0;
    o.momentum = 0.6;
    o.schedule = schedule;
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), 5);
    const RelaxSummary r = relax(sys, s, o);
    ASSERT_TRUE(r.converged()) << r.full_report();
    EXPECT_GE(s.minCoeff(), 0.0);
    EXPECT_LE(s.maxCoeff(), 1.0);
    EXPECT_LT((s - reference).cwiseAbs().maxCoeff(), 1e-7) << to_string(schedule);
  }
}

// Momentum and its restart act per example: a batch relaxes exactly as its examples do one by one
// for a fixed step budget, and chunks and threads do not change a converged result.
TEST(RelaxMomentum, EachExampleRelaxesAsItWouldAlone) {
  LayeredHopfield<double> net({6, 10, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(3, 2.5);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 40, 0, 1, 8);
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.dt = 1.0;
  o.momentum = 0.8;
  o.grad_tol = 0;
  o.max_steps = 15;
  Eigen::MatrixXd batch = Eigen::MatrixXd::Zero(net.state_size(), 40);
  FreeSystem all(net, x);
  relax(all, batch, o);
  for (Index j = 0; j < 40; ++j) {
    Eigen::MatrixXd one = Eigen::MatrixXd::Zero(net.state_size(), 1);
    FreeSystem sys(net, x.col(j));
    relax(sys, one, o);
    EXPECT_LT((one.col(0) - batch.col(j)).cwiseAbs().maxCoeff(), 1e-14) << "example " << j;
  }
  o.grad_tol = 1e-9;
  o.max_steps = 100000;
  auto run = [&](int threads, Index chunk) {
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), 40);
    ParallelOptions par{threads, chunk};
    EXPECT_TRUE(parallel_relax(s, par, [&](Eigen::MatrixXd& sc, Index first) {
                  FreeSystem sys(net, x.middleCols(first, sc.cols()));
                  return relax(sys, sc, o, first);
                }).converged());
    return s;
  };
  const Eigen::MatrixXd one_thread = run(1, 8);
  EXPECT_EQ(one_thread, run(2, 8));
  EXPECT_TRUE(one_thread.isApprox(run(2, 40), 1e-8));
}

// A system that projects without saying its box: relax falls back to stepping, projecting and
// taking the difference in separate passes, which must agree with the fused pass for a box.
template <class Sys>
struct OpaqueProjection {
  using Scalar = typename Sys::Scalar;
  const Sys& sys;
  Index state_size() const { return sys.state_size(); }
  std::vector<Block> layer_blocks() const { return sys.layer_blocks(); }
  RowVector<Scalar> energy(ConstRef<Scalar> s) const { return sys.energy(s); }
  void gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const { sys.gradient(s, g); }
  bool projects() const { return sys.projects(); }
  void project(MutRef<Scalar> s) const { sys.project(s); }
};

TEST(RelaxMomentum, TheFusedBoxStepAgreesWithTheGenericOne) {
  LayeredHopfield<double> net({6, 10, 8, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(5, 2.5);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 7, 0, 1, 2);
  FreeSystem fused(net, x);
  const OpaqueProjection<FreeSystem<LayeredHopfield<double>>> generic{fused};
  double lo = 0, hi = 0;
  ASSERT_TRUE(detail::clip_box(fused, lo, hi));
  ASSERT_FALSE(detail::clip_box(generic, lo, hi));
  for (Schedule schedule : {Schedule::synchronous, Schedule::alternating}) {
    RelaxOptions o;
    o.method = Method::fixed_point;
    o.dt = 1.0;
    o.momentum = 0.85;
    o.schedule = schedule;
    o.grad_tol = 0;
    o.max_steps = 25;
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(net.state_size(), 7), b = a;
    relax(fused, a, o);
    relax(generic, b, o);
    EXPECT_LT((a - b).cwiseAbs().maxCoeff(), 1e-12) << to_string(schedule);
    EXPECT_GT((a.array() == 0 || a.array() == 1).count(), 0) << "no unit reached the walls of its box";
  }
}

TEST(RelaxMomentum, OptionsAreChecked) {
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.momentum = 0.9;
  EXPECT_NO_THROW(o.validate("relax.free."));
  o.momentum = 1.0;
  EXPECT_THROW(
      try { o.validate("relax.free."); } catch (const InvalidOptions& e) {
        EXPECT_NE(std::string(e.what()).find("relax.free.momentum"), std::string::npos) << e.what();
        throw;
      },
      InvalidOptions);
  o.momentum = -0.1;
  EXPECT_THROW(o.validate(), InvalidOptions);
  o.momentum = 0.5;
  o.method = Method::euler;
  try {
    o.validate("relax.nudged.");
    ADD_FAILURE() << "momentum with euler was accepted";
  } catch (const InvalidOptions& e) {
    EXPECT_NE(std::string(e.what()).find("relax.nudged.momentum applies to method fixed_point only"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ebm
