#include "solvers/relax.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <unsupported/Eigen/MatrixFunctions>

#include <filesystem>
#include <functional>
#include <limits>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "models/quadratic.hpp"
#include "solvers/parallel.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

Quadratic<double> make_quadratic(Index n = 5, double lo = 0.5, double hi = 4.0, std::uint64_t seed = 3) {
  return Quadratic<double>(test::spd_matrix(n, lo, hi, seed), test::uniform_matrix(n, 1, -1, 1, seed, 7));
}

class EveryMethod : public ::testing::TestWithParam<Method> {};

TEST_P(EveryMethod, ReachesTheAnalyticMinimumOfAQuadratic) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  RelaxOptions options;
  options.method = GetParam();
  options.dt = GetParam() == Method::fixed_point ? 0.2 : 0.1;
  options.grad_tol = 1e-10;
  const RelaxSummary summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::converged) << summary.full_report();
  EXPECT_LT(summary.final_grad_norm, 1e-10);
  for (Index j = 0; j < 3; ++j) EXPECT_LE((s.col(j) - q.minimum()).norm(), 1e-10 / 0.5);
}

TEST_P(EveryMethod, WorksInSinglePrecision) {
  const Quadratic<double> qd = make_quadratic();
  const Quadratic<float> q(qd.a().cast<float>(), qd.minimum().cast<float>());
  const Eigen::MatrixXf none(0, 2);
  FreeSystem sys(q, none);
  Eigen::MatrixXf s = test::uniform_matrix(5, 2, -2, 2, 9).cast<float>();
  RelaxOptions options;
  options.method = GetParam();
  options.dt = GetParam() == Method::fixed_point ? 0.2 : 0.1;
  options.grad_tol = 1e-4;
  options.abs_tol = 1e-6;
  options.rel_tol = 1e-5;
  EXPECT_TRUE(relax(sys, s, options).converged());
  for (Index j = 0; j < 2; ++j) EXPECT_LE((s.col(j) - q.minimum()).norm(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Solvers, EveryMethod,
                         ::testing::Values(Method::euler, Method::rk4, Method::dopri5, Method::fixed_point),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace ebm

namespace ebm {
namespace {

// Error at t = 1 against the exact gradient flow s(t) = μ + e^{−At}(s₀ − μ).
double error_at_time_one(Method method, double dt, long* steps = nullptr) {
  const Quadratic<double> q = make_quadratic(4, 0.5, 4.0, 11);
  const Eigen::MatrixXd none(0, 1);
  FreeSystem sys(q, none);
  Eigen::MatrixXd s = test::uniform_matrix(4, 1, -2, 2, 5);
  const Eigen::VectorXd exact = q.minimum() + (-q.a()).exp() * (s.col(0) - q.minimum());
  RelaxOptions options;
  options.method = method;
  options.dt = dt;
  options.t_max = 1.0;
  options.grad_tol = 0;  // run to the horizon
  options.abs_tol = 1e-9;
  options.rel_tol = 1e-9;
  const RelaxSummary summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::time_horizon);
  EXPECT_NEAR(summary.t_final, 1.0, 1e-12);
  if (steps) *steps = summary.steps_accepted + summary.steps_rejected;
  return (s.col(0) - exact).norm();
}

TEST(RelaxOrder, EulerIsFirstOrder) {
  const double e1 = error_at_time_one(Method::euler, 0.02), e2 = error_at_time_one(Method::euler, 0.01),
               e3 = error_at_time_one(Method::euler, 0.005);
  EXPECT_GT(e1 / e2, 1.8);
  EXPECT_LT(e1 / e2, 2.2);
  EXPECT_GT(e2 / e3, 1.9);
  EXPECT_LT(e2 / e3, 2.1);
}

TEST(RelaxOrder, Rk4IsFourthOrder) {
  // Asymptotic once dt·λ_max ≤ 0.2 (λ_max = 4); errors stay far above round-off (~1e-9 at dt = 0.0125).
  const double e1 = error_at_time_one(Method::rk4, 0.05), e2 = error_at_time_one(Method::rk4, 0.025),
               e3 = error_at_time_one(Method::rk4, 0.0125);
  EXPECT_GT(e3, 1e-12);
  EXPECT_GT(e1 / e2, 14.0);
  EXPECT_LT(e1 / e2, 18.0);
  EXPECT_GT(e2 / e3, 15.0);
  EXPECT_LT(e2 / e3, 17.0);
}

TEST(RelaxOrder, Dopri5MeetsItsToleranceWithFarFewerStepsThanEuler) {
  long dopri_steps = 0;
  const double dopri_error = error_at_time_one(Method::dopri5, 0.1, &dopri_steps);
  EXPECT_LT(dopri_error, 1e-7);
  // Euler with 20× as many steps is still far less accurate; it would need ~1e6 steps.
  long euler_steps = 0;
  const double euler_error = error_at_time_one(Method::euler, 1.0 / double(20 * dopri_steps), &euler_steps);
  EXPECT_GE(euler_steps, 20 * dopri_steps - 1);
  EXPECT_GT(euler_error, 100 * dopri_error) << "dopri5 steps " << dopri_steps;
}

// The layered Hopfield network of THEORY.md, tanh, double.
LayeredHopfield<double> reference_network(std::uint64_t seed = 4) {
  LayeredHopfield<double> net({3, 5, 4, 2}, Activation::Kind::tanh);
  net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, seed);
  return net;
}

TEST(RelaxHopfield, EverySolverReachesTheSameFixedPointFromAWarmStart) {
  const LayeredHopfield<double> net = reference_network();
  const Eigen::MatrixXd x = test::uniform_matrix(3, 4, -1, 1, 21);
  FreeSystem sys(net, x);
  // Warm start: a rough relaxation first.
  Eigen::MatrixXd warm = Eigen::MatrixXd::Zero(net.state_size(), 4);
  RelaxOptions rough;
  rough.grad_tol = 1e-3;
  ASSERT_TRUE(relax(sys, warm, rough).converged());

  std::vector<std::pair<std::string, RelaxOptions>> solvers;
  RelaxOptions o;
  o.grad_tol = 1e-11;
  o.method = Method::euler, o.dt = 0.2;
  solvers.emplace_back("euler", o);
  o.method = Method::dopri5, o.abs_tol = 1e-14, o.rel_tol = 1e-13;
  solvers.emplace_back("dopri5", o);
  o.method = Method::fixed_point, o.dt = 0.5;
  solvers.emplace_back("fixed_point synchronous", o);
  o.schedule = Schedule::alternating;
  solvers.emplace_back("fixed_point alternating", o);

  std::vector<Eigen::MatrixXd> fixed_points;
  for (const auto& [name, options] : solvers) {
    Eigen::MatrixXd s = warm;
    const RelaxSummary summary = relax(sys, s, options);
    EXPECT_TRUE(summary.converged()) << name << '\n' << summary.full_report();
    EXPECT_LT(summary.final_grad_norm, 1e-10) << name;
    Eigen::MatrixXd g(s.rows(), s.cols());
    net.state_gradient(s, x, g);
    EXPECT_LT(g.colwise().norm().maxCoeff(), 1e-10) << name << ": the summary must report the true gradient";
    fixed_points.push_back(s);
  }
  for (std::size_t i = 1; i < fixed_points.size(); ++i)
    EXPECT_LT((fixed_points[i] - fixed_points[0]).cwiseAbs().maxCoeff(), 1e-9) << solvers[i].first;
}

TEST(RelaxHopfield, HardSigmoidStatesStayInTheBoxAndReachAConstrainedMinimum) {
  LayeredHopfield<double> net({6, 8, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(7, 2.0);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 5, 0, 1, 3);
  FreeSystem sys(net, x);
  RelaxOptions euler;
  euler.method = Method::euler;
  euler.dt = 0.5;
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), 5);
  const RelaxSummary summary = relax(sys, s, euler);
  ASSERT_TRUE(summary.converged()) << summary.full_report();
  EXPECT_GE(s.minCoeff(), 0.0);
  EXPECT_LE(s.maxCoeff(), 1.0);
  // A constrained minimum of E: each unit is the clip of its input, ρ(W·ρ(neighbours) + b).
  Eigen::MatrixXd g(s.rows(), s.cols());
  net.state_gradient(s, x, g);
  const Eigen::MatrixXd clipped = (s - g).array().max(0.0).min(1.0).matrix();
  EXPECT_LT((clipped - s).cwiseAbs().maxCoeff(), 1e-8);
  // Exact block minimisation (alternating fixed point, ε = 1) lands on the same point.
  RelaxOptions block;
  block.method = Method::fixed_point;
  block.dt = 1.0;
  block.schedule = Schedule::alternating;
  Eigen::MatrixXd s2 = Eigen::MatrixXd::Zero(net.state_size(), 5);
  ASSERT_TRUE(relax(sys, s2, block).converged());
  EXPECT_LT((s2 - s).cwiseAbs().maxCoeff(), 1e-7);
}

// The stationarity measure of a box-projected system is ‖s − clip(s − g)‖₂ per example, taken in
// one pass: it must give the bits of the three steps it replaced (s − sign·g, the system's own
// project(), − s) for either sign, in float and double, and at sizes with SIMD tails, since the
// stopping test compares it with grad_tol.
template <class T>
void expect_stationarity_as_three_steps() {
  using M = Matrix<T>;
  LayeredHopfield<T> net({7, 37, 5}, Activation::Kind::hard_sigmoid);
  net.init_glorot(3);
  const M x = test::uniform_matrix(7, 9, 0, 1, 4).cast<T>();
  FreeSystem sys(net, x);
  const M s = test::uniform_matrix(42, 9, -0.2, 1.2, 5).cast<T>();  // some outside the box
  const M flow = test::uniform_matrix(42, 9, -1.5, 1.5, 6).cast<T>();
  M work;
  for (const T sign : {T(1), T(-1)}) {
    M three = s - sign * flow;
    sys.project(three);
    three -= s;
    const double expected = double(three.colwise().norm().maxCoeff());
    EXPECT_EQ(detail::stationarity(sys, s, flow, sign, work), expected) << "sign " << double(sign);
    EXPECT_GT(expected, 0.1);  // the clip changed entries: a residual far from the gradient's norm
    EXPECT_NE(expected, double(flow.colwise().norm().maxCoeff()));
  }
}

TEST(RelaxHopfield, StationarityInOnePassIsTheThreeSteps) {
  expect_stationarity_as_three_steps<float>();
  expect_stationarity_as_three_steps<double>();
}

TEST(RelaxHopfield, HigherOrderMethodsRefuseAClippedModel) {
  LayeredHopfield<double> net({2, 3, 1}, Activation::Kind::hard_sigmoid);
  const Eigen::MatrixXd x = Eigen::MatrixXd::Zero(2, 1);
  FreeSystem sys(net, x);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(4, 1);
  RelaxOptions options;
  for (Method m : {Method::rk4, Method::dopri5}) {
    options.method = m;
    try {
      relax(sys, s, options);
      ADD_FAILURE() << "expected InvalidOptions for " << to_string(m);
    } catch (const InvalidOptions& e) {
      EXPECT_NE(std::string(e.what()).find("relax.method"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("hard sigmoid"), std::string::npos) << e.what();
    }
  }
}

TEST(RelaxHopfield, SinglePrecisionAgreesWithDouble) {
  const LayeredHopfield<double> net = reference_network();
  LayeredHopfield<float> netf({3, 5, 4, 2}, Activation::Kind::tanh);
  netf.params() = net.params().cast<float>();
  const Eigen::MatrixXd x = test::uniform_matrix(3, 4, -1, 1, 21);
  const Eigen::MatrixXf xf = x.cast<float>();
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(11, 4);
  Eigen::MatrixXf sf = Eigen::MatrixXf::Zero(11, 4);
  RelaxOptions o;
  o.method = Method::euler;
  o.dt = 0.2;
  o.grad_tol = 1e-10;
  FreeSystem sys(net, x);
  ASSERT_TRUE(relax(sys, s, o).converged());
  o.grad_tol = 1e-5;
  FreeSystem sysf(netf, xf);
  ASSERT_TRUE(relax(sysf, sf, o).converged());
  EXPECT_LT((sf.cast<double>() - s).cwiseAbs().maxCoeff(), 1e-4);
}

// ---- observers and traces ----

TEST(RelaxTrace, RecordsEveryStepWithFallingEnergy) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  RelaxOptions options;
  options.method = Method::euler;
  options.dt = 0.05;
  options.grad_tol = 1e-6;
  TraceRecorder<double> trace;
  const RelaxSummary summary = relax(sys, s, options, trace);
  ASSERT_EQ(long(trace.rows().size()), summary.steps_accepted + 1);
  EXPECT_EQ(trace.rows().front().step, 0);
  EXPECT_EQ(trace.rows().front().dt, 0.0);
  for (std::size_t i = 1; i < trace.rows().size(); ++i) {
    EXPECT_LT(trace.rows()[i].energy, trace.rows()[i - 1].energy) << "row " << i;
    EXPECT_NEAR(trace.rows()[i].t, 0.05 * double(i), 1e-9);
    EXPECT_DOUBLE_EQ(trace.rows()[i].dt, 0.05);
    EXPECT_GT(trace.rows()[i].layer_change[0], 0.0);
  }
  EXPECT_DOUBLE_EQ(trace.rows().back().grad_norm, summary.final_grad_norm);
  EXPECT_DOUBLE_EQ(trace.rows().back().energy, summary.final_energy);
}

TEST(RelaxTrace, EveryNAndAtChosenTimes) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  RelaxOptions options;
  options.method = Method::rk4;
  options.dt = 0.1;
  options.t_max = 3.0;
  options.grad_tol = 0;
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  TraceRecorder<double> every5(TraceSchedule::every_n(5));
  relax(sys, s, options, every5);
  ASSERT_EQ(every5.rows().size(), 7u);  // steps 0, 5, …, 30
  EXPECT_EQ(every5.rows()[3].step, 15);

  // dopri5 shortens its steps to land exactly on the requested times.
  options.method = Method::dopri5;
  s = test::uniform_matrix(5, 3, -2, 2, 9);
  TraceRecorder<double> at(TraceSchedule::at_times({0.25, 1.0, 2.5}));
  relax(sys, s, options, at);
  ASSERT_EQ(at.rows().size(), 3u);
  EXPECT_NEAR(at.rows()[0].t, 0.25, 1e-12);
  EXPECT_NEAR(at.rows()[1].t, 1.0, 1e-12);
  EXPECT_NEAR(at.rows()[2].t, 2.5, 1e-12);
  EXPECT_THROW(TraceSchedule::every_n(0), InvalidOptions);
}

TEST(RelaxTrace, WritesCsvAtomically) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  TraceRecorder<double> trace;
  RelaxOptions options;
  options.grad_tol = 1e-4;
  relax(sys, s, options, trace);
  const auto path = std::filesystem::temp_directory_path() / "ebm_relax_trace_test.csv";
  trace.write_csv(path);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "phase,step,t,dt,energy,grad_norm,dstate_1");
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_EQ(line.rfind("free,", 0), 0u) << line;
  }
  EXPECT_EQ(lines, trace.rows().size());
  std::filesystem::remove(path);
}

TEST(RelaxTrace, AnObserverCanStopTheRelaxation) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  const double start = sys.energy(s).mean();
  StopWhen<double> half([&](const TracePoint<double>& p) { return p.energy < 0.5 * start; });
  RelaxOptions options;
  options.method = Method::euler;
  options.dt = 0.01;
  const RelaxSummary summary = relax(sys, s, options, half);
  EXPECT_EQ(summary.termination, Termination::stopped_by_observer);
  EXPECT_LT(sys.energy(s).mean(), 0.5 * start);
  EXPECT_GT(sys.energy(s).mean(), 0.45 * start);  // it stopped at the first such step
}

// ---- stopping rules ----

TEST(RelaxStopping, StepBudgetAndTimeHorizon) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  RelaxOptions options;
  options.max_steps = 7;
  RelaxSummary summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::step_budget);
  EXPECT_EQ(summary.steps_accepted, 7);
  EXPECT_EQ(summary.gradient_evaluations, 1 + 4 * 7);  // rk4: four evaluations a step
  options.max_steps = 100000;
  options.t_max = 0.35;
  summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::time_horizon);
  EXPECT_NEAR(summary.t_final, 0.35, 1e-12);  // the last step is shortened to land on it
  EXPECT_NE(summary.brief_report().find("time horizon"), std::string::npos);
  EXPECT_NE(summary.full_report().find("steps accepted        4"), std::string::npos) << summary.full_report();
}

// ---- bad input ----

struct BadOption {
  const char* field;
  std::function<void(RelaxOptions&)> spoil;
};

class RelaxBadOption : public ::testing::TestWithParam<BadOption> {};

TEST_P(RelaxBadOption, IsRejectedWithTheFieldNamed) {
  RelaxOptions options;
  GetParam().spoil(options);
  std::string why;
  EXPECT_FALSE(options.is_valid(&why));
  EXPECT_NE(why.find(GetParam().field), std::string::npos) << why;
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(5, 3);
  try {
    relax(sys, s, options);
    ADD_FAILURE() << "relax accepted a bad " << GetParam().field;
  } catch (const InvalidOptions& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().field), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fields, RelaxBadOption,
    ::testing::Values(BadOption{"relax.dt", [](RelaxOptions& o) { o.dt = 0; }},
                      BadOption{"relax.dt", [](RelaxOptions& o) { o.dt = std::nan(""); }},
                      BadOption{"relax.t_max", [](RelaxOptions& o) { o.t_max = -1; }},
                      BadOption{"relax.max_steps", [](RelaxOptions& o) { o.max_steps = 0; }},
                      BadOption{"relax.grad_tol", [](RelaxOptions& o) { o.grad_tol = -1e-3; }},
                      BadOption{"relax.abs_tol", [](RelaxOptions& o) { o.method = Method::dopri5, o.abs_tol = o.rel_tol = 0; }},
                      BadOption{"relax.max_dt", [](RelaxOptions& o) { o.method = Method::dopri5, o.max_dt = -1; }},
                      BadOption{"relax.divergence_bound", [](RelaxOptions& o) { o.divergence_bound = 0; }},
                      BadOption{"relax.schedule", [](RelaxOptions& o) { o.schedule = Schedule::alternating; }}),
    [](const auto& info) { return std::to_string(info.index); });

TEST(RelaxBadInput, UnknownNamesAreRejected) {
  EXPECT_EQ(parse_method("dopri5"), Method::dopri5);
  EXPECT_THROW(parse_method("rk45"), InvalidOptions);
  EXPECT_EQ(parse_schedule("alternating"), Schedule::alternating);
  EXPECT_THROW(parse_schedule("random"), InvalidOptions);
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RelaxBadInput, MismatchedDimensionsAreNamed) {
  const LayeredHopfield<double> net = reference_network();
  const Eigen::MatrixXd x = Eigen::MatrixXd::Zero(3, 4);
  FreeSystem sys(net, x);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(8, 4);
  EXPECT_NE(message_of([&] { relax(sys, s, RelaxOptions{}); }).find("state has 8 rows but the system has 11"),
            std::string::npos);
  Eigen::MatrixXd s_wrong_batch = Eigen::MatrixXd::Zero(11, 5);
  EXPECT_NE(message_of([&] { relax(sys, s_wrong_batch, RelaxOptions{}); })
                .find("clamped input has 4 columns but the state has 5"),
            std::string::npos);
  const Eigen::MatrixXd x_wrong = Eigen::MatrixXd::Zero(2, 4);
  EXPECT_NE(message_of([&] { FreeSystem bad(net, x_wrong); }).find("clamped input has 2 rows"), std::string::npos);
  const Eigen::MatrixXd target = Eigen::MatrixXd::Zero(3, 4);
  EXPECT_NE(message_of([&] { NudgedSystem bad(net, x, target, 0.1); }).find("target has 3 rows"),
            std::string::npos);
  const Eigen::MatrixXd target_batch = Eigen::MatrixXd::Zero(2, 3);
  EXPECT_NE(message_of([&] { NudgedSystem bad(net, x, target_batch, 0.1); }).find("columns"), std::string::npos);
}

TEST(RelaxBadInput, DivergenceIsReportedWithStepExampleLayerAndUnit) {
  // Euler is unstable for dt > 2/λ_max = 0.5 on this quadratic.
  const Quadratic<double> q = make_quadratic(5, 0.5, 4.0);
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(5, 3, -2, 2, 9);
  RelaxOptions options;
  options.method = Method::euler;
  options.dt = 0.7;
  options.divergence_bound = 1e6;
  const std::string message = message_of([&] { relax(sys, s, options, Index(100)); });
  EXPECT_NE(message.find("euler relaxation diverged at step"), std::string::npos) << message;
  EXPECT_NE(message.find("example 10"), std::string::npos) << message;  // examples 100–102
  EXPECT_NE(message.find("layer 1, unit"), std::string::npos) << message;
  EXPECT_NE(message.find("divergence bound"), std::string::npos) << message;

  // With on_divergence = stop: no exception, the last finite state is kept and reported.
  s = test::uniform_matrix(5, 3, -2, 2, 9);
  options.on_divergence = OnDivergence::stop;
  const RelaxSummary summary = relax(sys, s, options);
  EXPECT_EQ(summary.termination, Termination::diverged);
  EXPECT_TRUE(s.allFinite());
  EXPECT_LE(s.cwiseAbs().maxCoeff(), 1e6);
  EXPECT_NE(summary.message.find("diverged at step"), std::string::npos);
  EXPECT_NE(summary.full_report().find("message"), std::string::npos);
}

TEST(RelaxBadInput, NonFiniteStatesNeverComeBackSilently) {
  const Quadratic<double> q = make_quadratic();
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(5, 3);
  s(2, 1) = std::numeric_limits<double>::quiet_NaN();
  const std::string message = message_of([&] { relax(sys, s, RelaxOptions{}); });
  EXPECT_NE(message.find("initial state is unusable: example 1, layer 1, unit 2"), std::string::npos) << message;
  // The same facts as fields, for a program to act on (the trainer names the training example).
  try {
    relax(sys, s, RelaxOptions{}, Index(40));
    ADD_FAILURE() << "no divergence";
  } catch (const DivergenceError& e) {
    EXPECT_EQ(e.site().step, 0);
    EXPECT_EQ(e.site().example, 41);
    EXPECT_EQ(e.site().layer, 1);
    EXPECT_EQ(e.site().unit, 2);
    EXPECT_TRUE(std::isnan(e.site().value));
  }

  // A NaN parameter makes the gradient non-finite at the first step.
  Quadratic<double> broken = make_quadratic();
  broken.params()(0) = std::numeric_limits<double>::infinity();
  FreeSystem bad(broken, test::kNoInput);
  s.setZero();
  EXPECT_THROW(relax(bad, s, RelaxOptions{}), DivergenceError);
}

TEST(RelaxParallel, ChunksAndThreadsDoNotChangeTheResult) {
  LayeredHopfield<double> net({6, 10, 3}, Activation::Kind::logistic);
  net.init_glorot(3, 1.5);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 50, 0, 1, 8);
  RelaxOptions options;
  options.method = Method::euler;
  options.dt = 0.3;
  auto run = [&](int threads, Index chunk) {
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), 50);
    ParallelOptions par{threads, chunk};
    const RelaxSummary summary = parallel_relax(s, par, [&](Eigen::MatrixXd& sc, Index first) {
      FreeSystem sys(net, x.middleCols(first, sc.cols()));
      return relax(sys, sc, options, first);
    });
    EXPECT_TRUE(summary.converged());
    EXPECT_EQ(summary.examples, 50);
    return s;
  };
  const Eigen::MatrixXd one = run(1, 8);
  EXPECT_EQ(one, run(2, 8));
  EXPECT_TRUE(one.isApprox(run(2, 50), 1e-8));  // one matrix: the stopping step may differ, not the fixed point
  EXPECT_THROW(run(-1, 8), InvalidOptions);
}

// The divergence search names the example, layer and unit of a NaN, an infinity or a value beyond
// the bound; with an infinite bound (how relax checks the gradient) an infinity is still found.
TEST(FindDivergence, NamesNaNInfinityAndOutOfBoundEntries) {
  const std::vector<Block> layers = {{0, 2}, {2, 3}};
  Matrix<double> m = Matrix<double>::Constant(5, 4, 0.5);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(detail::find_divergence(m, layers, inf, 0), "");
  m(3, 2) = inf;
  EXPECT_EQ(detail::find_divergence(m, layers, inf, 10, "energy gradient"),
            "example 12, layer 2, unit 1 has energy gradient inf");
  m(3, 2) = std::nan("");
  EXPECT_EQ(detail::find_divergence(m, layers, 1e8, 0), "example 2, layer 2, unit 1 has state nan");
  m(3, 2) = 2e8;
  EXPECT_EQ(detail::find_divergence(m, layers, 1e8, 0),
            "example 2, layer 2, unit 1 has state 2e+08 beyond the divergence bound 1e+08");
}

}  // namespace
}  // namespace ebm

namespace ebm {
namespace {

// F(s) = Σ|s_i|: not differentiable at its minimum, where a fixed step chatters (s flips between
// ±h/2 and the gradient between ±1) and the residual never falls.
struct AbsoluteValue {
  using Scalar = double;
  Index state_size() const { return 3; }
  std::vector<Block> layer_blocks() const { return {{0, 3}}; }
  RowVector<double> energy(ConstRef<double> s) const { return s.cwiseAbs().colwise().sum(); }
  void gradient(ConstRef<double> s, MutRef<double> g) const { g = s.array().sign().matrix(); }
};

TEST(RelaxStall, AChatteringRelaxationStopsAfterStallStepsWithoutProgress) {
  Eigen::MatrixXd s = Eigen::MatrixXd::Constant(3, 2, 1.05);
  RelaxOptions o;
  o.method = Method::euler;
  o.dt = 0.1;
  o.grad_tol = 1e-8;
  o.max_steps = 100000;
  o.stall_steps = 50;
  const RelaxSummary r = relax(AbsoluteValue{}, s, o);
  EXPECT_EQ(r.termination, Termination::stalled) << r.full_report();
  // The residual sits at √3 from the first step: the stall test fires 50 steps after it.
  EXPECT_EQ(r.steps_accepted, 50);
  EXPECT_NEAR(r.final_grad_norm, std::sqrt(3.0), 1e-12);
  EXPECT_LE(s.cwiseAbs().maxCoeff(), 0.1);  // it did reach the kink
  EXPECT_NE(r.brief_report().find("stalled"), std::string::npos);
}

TEST(RelaxStall, ASlowButSteadyRelaxationIsNotStalled) {
  // A quadratic with eigenvalues 1e-3…1: the slow mode loses 1% of its residual every ~10 time
  // units (~100 steps of 0.1), well within a stall window of 500 steps.
  const Quadratic<double> q = make_quadratic(4, 1e-3, 1.0, 5);
  FreeSystem sys(q, test::kNoInput);
  Eigen::MatrixXd s = test::uniform_matrix(4, 3, -2, 2, 9);
  RelaxOptions o;
  o.method = Method::rk4;
  o.dt = 0.1;
  o.grad_tol = 1e-9;
  o.max_steps = 1000000;
  o.t_max = 1e5;
  o.stall_steps = 500;
  const RelaxSummary r = relax(sys, s, o);
  EXPECT_EQ(r.termination, Termination::converged) << r.full_report();
}

}  // namespace
}  // namespace ebm
