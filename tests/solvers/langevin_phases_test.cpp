// The pieces Langevin phases add to the solver: annealing, antithetic noise, frozen (clamped)
// rows, and the trace of a Langevin run (energy spread over chains, MALA's acceptance).

#include <gtest/gtest.h>

#include <cmath>

#include "models/layered_hopfield.hpp"
#include "models/ornstein_uhlenbeck.hpp"
#include "models/quadratic.hpp"
#include "solvers/langevin.hpp"
#include "solvers/trace.hpp"
#include "core/system.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

TEST(LangevinPhases, AnnealingGoesFromTheStartToTheTargetTemperature) {
  EXPECT_DOUBLE_EQ(annealed_temperature(Anneal::none, 1.0, 0.01, 0, 10), 0.01);
  EXPECT_DOUBLE_EQ(annealed_temperature(Anneal::geometric, 1.0, 0.01, 9, 10), 0.01);
  EXPECT_NEAR(annealed_temperature(Anneal::geometric, 1.0, 0.01, 4, 10), 0.1, 1e-12);  // halfway in log
  EXPECT_NEAR(annealed_temperature(Anneal::linear, 1.0, 0.0, 4, 10), 0.5, 1e-12);
  LangevinOptions o;
  o.anneal = Anneal::linear;
  o.anneal_from = -1;
  std::string why;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("langevin.anneal_from"), std::string::npos);
}

// One step from the same state: the antithetic twin moves by the same drift and the opposite noise.
TEST(LangevinPhases, AntitheticTwinsDrawOppositeNoise) {
  const Quadratic<double> q(test::spd_matrix(3, 0.5, 2.0, 1), Eigen::VectorXd::Zero(3));
  FreeSystem sys(q, Eigen::MatrixXd(0, 4));
  Eigen::MatrixXd s = Eigen::MatrixXd::Constant(3, 4, 0.3);
  LangevinOptions o;
  o.steps = 1;
  o.dt = 0.1;
  o.temperature = 0.5;
  o.antithetic = true;
  langevin(sys, s, o);
  const Eigen::VectorXd drift_step = Eigen::VectorXd::Constant(3, 0.3) - 0.1 * q.a() * Eigen::VectorXd::Constant(3, 0.3);
  EXPECT_LE((s.col(0) + s.col(1) - 2 * drift_step).norm(), 1e-14);
  EXPECT_LE((s.col(2) + s.col(3) - 2 * drift_step).norm(), 1e-14);
  EXPECT_GT((s.col(0) - s.col(2)).norm(), 1e-3);  // pairs draw their own noise
}

// Annealed from T₀ = 4 to T = 0.25, then sampled at T: ULA on an OU process is in equilibrium at
// T (variance T/a up to the O(h) bias), and its trace records the energy's spread over the chains.
TEST(LangevinPhases, AnnealedChainsEndAtTheTargetTemperatureAndTraceTheirSpread) {
  const double a = 2.0, h = 0.01, t = 0.25;
  const Quadratic<double> q(Eigen::MatrixXd::Constant(1, 1, a), Eigen::VectorXd::Zero(1));
  const Index chains = 2000;
  FreeSystem sys(q, Eigen::MatrixXd(0, chains));
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(1, chains);
  LangevinOptions o;
  o.steps = 300;
  o.dt = h;
  o.temperature = t;
  o.anneal = Anneal::geometric;
  o.anneal_from = 4.0;
  o.seed = 9;
  langevin(sys, s, o);
  // The annealed run ends at T but its variance lags the falling temperature by about the
  // relaxation time 1/(2a): measured 0.143 against 0.126. Sampling continues at T (a new seed).
  o.anneal = Anneal::none;
  o.seed = 10;
  o.steps = 300;
  TraceRecorder<double> trace(TraceSchedule::every_n(100));
  langevin(sys, s, o, trace);
  const double var = s.squaredNorm() / double(chains), expected = t / a / (1 - h * a / 2);
  EXPECT_NEAR(var, expected, 4.5 * expected * std::sqrt(2.0 / double(chains)));
  ASSERT_FALSE(trace.rows().empty());
  // E = ½as² at equilibrium: mean T/2, spread T/√2 (a χ² with one degree of freedom).
  EXPECT_NEAR(trace.rows().back().energy_spread, t / std::sqrt(2.0), 0.1 * t);
  EXPECT_TRUE(std::isnan(trace.rows().back().acceptance));  // ULA accepts every step
  EXPECT_NE(trace.csv().find("energy_std,acceptance"), std::string::npos);
}

// A system with frozen rows (the clamped phase) gets no noise there; MALA's trace records its
// acceptance rate, between 0 and 1.
struct FrozenFirstRow {
  using Scalar = double;
  const FreeSystem<Quadratic<double>>& free;
  Index state_size() const { return free.state_size(); }
  std::vector<Block> layer_blocks() const { return free.layer_blocks(); }
  RowVector<double> energy(ConstRef<double> s) const { return free.energy(s); }
  void gradient(ConstRef<double> s, MutRef<double> g) const {
    free.gradient(s, g);
    g.row(0).setZero();
  }
  bool projects() const { return false; }
  void project(MutRef<double>) const {}
  Block frozen_rows() const { return {0, 1}; }
};

TEST(LangevinPhases, FrozenRowsStayPutAndMalaTracesItsAcceptance) {
  const Quadratic<double> q(test::spd_matrix(2, 0.5, 2.0, 2), Eigen::VectorXd::Zero(2));
  const FreeSystem free(q, Eigen::MatrixXd(0, 8));
  const FrozenFirstRow sys{free};
  Eigen::MatrixXd s = Eigen::MatrixXd::Constant(2, 8, 0.7);
  LangevinOptions o;
  o.method = LangevinMethod::mala;
  o.steps = 50;
  o.dt = 0.5;
  o.temperature = 0.3;
  TraceRecorder<double> trace;
  const LangevinSummary sum = langevin(sys, s, o, trace);
  EXPECT_EQ(s.row(0), Eigen::RowVectorXd::Constant(8, 0.7));
  EXPECT_GT((s.row(1).array() - 0.7).abs().maxCoeff(), 1e-3);
  const double acc = trace.rows().back().acceptance;
  EXPECT_GT(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  EXPECT_DOUBLE_EQ(acc, sum.acceptance_rate());
}

// A model that clips its states (the hard sigmoid) is projected after each ULA step, as its
// deterministic relaxations are: the chains stay in [0, 1] and, at h = 1 and a small T, end near the
// projected fixed point instead of two-cycling between 0 and the drive.
TEST(LangevinPhases, UlaProjectsClippedStates) {
  LayeredHopfield<double> net({6, 8, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(3, 2.0);
  const Eigen::MatrixXd x = test::uniform_matrix(6, 5, 0, 1, 4);
  FreeSystem sys(net, x);
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), 5), fixed = s;
  RelaxOptions det;
  det.method = Method::fixed_point;
  det.dt = 1;
  det.grad_tol = 1e-12;
  relax(sys, fixed, det);
  LangevinOptions o;
  o.steps = 60;
  o.dt = 1;
  o.temperature = 1e-8;
  langevin(sys, s, o);
  EXPECT_GE(s.minCoeff(), 0.0);
  EXPECT_LE(s.maxCoeff(), 1.0);
  EXPECT_LE((s - fixed).cwiseAbs().maxCoeff(), 1e-3);
}

}  // namespace
}  // namespace ebm
