#include "learning/bptt.hpp"

#include <gtest/gtest.h>

#include "learning/exact_gradient.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

static_assert(Estimator<Bptt<double>, LayeredHopfield<double>>);

RelaxOptions euler_steps(long n, double dt) {
  RelaxOptions o;
  o.method = Method::euler;
  o.dt = dt;
  o.grad_tol = 0;
  o.max_steps = n;
  o.t_max = 2 * dt * double(n);
  return o;
}

// BPTT through the steps relax() actually took (recorded by StateRecorder), against central
// differences of θ ↦ C(s_N(θ)) rerunning the same N Euler steps from zero: far from a fixed point.
TEST(Bptt, MatchesFiniteDifferencesThroughTheRecordedSteps) {
  for (Method method : {Method::euler, Method::fixed_point}) {
    test::SmallProblem p({3, 5, 4, 2}, 3, 9);
    RelaxOptions o = euler_steps(15, 0.3);
    o.method = method;
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), 3);
    StateRecorder<double> rec;
    relax(FreeSystem(p.net, p.x), s, o, rec);
    ASSERT_EQ(rec.states().size(), 16u);
    const auto r = bptt_through(p.net, p.x, p.d, rec.states(), rec.steps());
    const Eigen::VectorXd theta = p.net.params();
    const Eigen::MatrixXd fd = test::central_difference(
        [&](const Eigen::MatrixXd& th) {
          p.net.params() = th;
          Eigen::MatrixXd sw = Eigen::MatrixXd::Zero(p.net.state_size(), 3);
          relax(FreeSystem(p.net, p.x), sw, o);
          return 0.5 * (sw.bottomRows(2) - p.d).squaredNorm();
        },
        theta);
    p.net.params() = theta;
    const double err = test::relative_error(r.grad, fd);
    test::report(std::string("BPTT through ") + std::string(to_string(method)) + " steps vs finite differences", err);
    EXPECT_LE(err, 1e-7);
    // ∂L/∂s_0 too: perturb the starting state.
    const Eigen::MatrixXd fd_s = test::central_difference(
        [&](const Eigen::MatrixXd& s0) {
          Eigen::MatrixXd sw = s0;
          relax(FreeSystem(p.net, p.x), sw, o);
          return 0.5 * (sw.bottomRows(2) - p.d).squaredNorm();
        },
        Eigen::MatrixXd::Zero(p.net.state_size(), 3));
    EXPECT_LE(test::relative_error(r.state_adjoint.front(), fd_s), 1e-7);
  }
}

// Truncated BPTT at the fixed point tends to the implicit gradient as K grows (THEORY.md §3).
TEST(Bptt, TruncatedAtTheFixedPointTendsToTheExactGradient) {
  const test::SmallProblem p;
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(p.net.state_size(), p.x.cols());
  Eigen::VectorXd exact(p.net.params().size()), g(exact.size());
  ExactGradient<double>().estimate(p.net, p.x, p.d, s, exact);
  std::vector<double> errors;
  for (long k : {12L, 400L}) {
    BpttOptions o;
    o.free = test::tight_relax();
    o.steps = k;
    o.dt = 0.5;
    s.setZero();
    Bptt<double>(o).estimate(p.net, p.x, p.d, s, g);
    errors.push_back(test::relative_error(g, exact));
    test::report("truncated BPTT (K = " + std::to_string(k) + ") vs exact", errors.back());
  }
  EXPECT_LT(errors[0], 0.05);
  EXPECT_LT(errors[1], 1e-9);
}

}  // namespace
}  // namespace ebm
