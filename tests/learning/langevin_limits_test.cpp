// As T → 0 each Langevin estimate tends to its deterministic one (THEORY.md §7): EP, CHL and early
// inference on a nonlinear layered network, the error against T with a fitted slope.
//
// Why slope 1: a sample average of a smooth f near a minimum is f(s*) + O(√T) noise + O(T) bias
// (the curvature term (T/2)·tr(H⁻¹∇²f)). Antithetic chain pairs (noise ξ and −ξ) cancel the odd
// powers of √T within each pair, so what is left is the O(T) bias and its O(T) spread: the error
// is linear in T. (With enough samples and shared noise between the two chains of a pair the O(√T)
// noise is small anyway: plain chains measured slope 0.95 on EP.) With independent noise in the two
// chains the difference keeps an O(√T/β) noise: slope ½, the negative control.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/order_verdict.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

const std::vector<double> kTemperatures{8e-3, 4e-3, 2e-3, 1e-3};

RelaxOptions langevin_phase(Method method, double temperature, double dt = 0.1) {
  RelaxOptions o;
  o.method = method;
  o.temperature = temperature;
  o.dt = dt;
  return o;
}

LangevinPhaseOptions sampling(bool antithetic, long chains = 16) {
  LangevinPhaseOptions lp;
  lp.chains = chains;
  lp.burn_in = 150;
  lp.samples = 100;
  lp.thinning = 2;
  lp.antithetic = antithetic;
  lp.seed = 5;
  return lp;
}

struct Curve {
  std::vector<double> errors;
  double slope;
};

Curve error_against_temperature(const std::string& name, const std::function<Eigen::VectorXd(double)>& langevin,
                                const Eigen::VectorXd& deterministic) {
  Curve c;
  for (double t : kTemperatures) {
    c.errors.push_back(test::relative_error(langevin(t), deterministic));
    test::report(name + " relative error vs deterministic at T = " + std::to_string(t), c.errors.back());
  }
  c.slope = fitted_order(kTemperatures, c.errors);
  test::report(name + " fitted slope of the error against T", c.slope);
  return c;
}

struct Network {
  test::SmallProblem p{{3, 5, 4, 2}, 4, 7};
  Eigen::MatrixXd zero = Eigen::MatrixXd::Zero(p.net.state_size(), 4);
  Eigen::VectorXd run(const auto& estimator) const {
    Eigen::MatrixXd s = zero;
    Eigen::VectorXd g(p.net.params().size());
    estimator.estimate(p.net, p.x, p.d, s, g);
    return g;
  }
};

EPOptions ep_options(Method method, double temperature, bool antithetic) {
  EPOptions o;
  o.beta = 0.1;
  o.free = test::tight_relax();
  o.nudged = is_langevin(method) ? langevin_phase(method, temperature) : test::tight_relax();
  o.langevin = sampling(antithetic);
  return o;
}

TEST(LangevinLimits, EPTendsToDeterministicEPLinearlyInTemperature) {
  const Network st;
  const Eigen::VectorXd det = st.run(EquilibriumProp<double>(ep_options(Method::rk4, 0, false)));
  const Curve mala = error_against_temperature("EP/MALA antithetic", [&](double t) {
    return st.run(EquilibriumProp<double>(ep_options(Method::mala, t, true)));
  }, det);
  EXPECT_GE(mala.slope, 0.85);
  EXPECT_LE(mala.slope, 1.15);
  EXPECT_LT(mala.errors.back(), 0.02);
  // Negative control: few samples (2 plain chains × 5, ULA), the two chains of each pair with their
  // own noise. The difference of two independent averages, divided by β, keeps an O(√T/β) noise
  // that dominates: the error falls as √T only and is far larger than with shared noise.
  auto few = [&](double t, bool shared) {
    EPOptions o = ep_options(Method::ula, t, false);
    o.langevin.chains = 2;
    o.langevin.samples = 5;
    o.langevin.shared_noise = shared;
    return st.run(EquilibriumProp<double>(o));
  };
  const Curve few_shared = error_against_temperature("EP/ULA 2x5 samples, shared noise",
                                                     [&](double t) { return few(t, true); }, det);
  const Curve few_independent = error_against_temperature("EP/ULA 2x5 samples, independent noise",
                                                          [&](double t) { return few(t, false); }, det);
  EXPECT_GE(few_independent.slope, 0.3);
  EXPECT_LE(few_independent.slope, 0.7);
  for (std::size_t i = 0; i < kTemperatures.size(); ++i)
    EXPECT_GT(few_independent.errors[i], 10 * few_shared.errors[i]) << "T = " << kTemperatures[i];
}

TEST(LangevinLimits, CHLTendsToDeterministicCHLLinearlyInTemperature) {
  const Network st;
  auto options = [](Method method, double temperature) {
    CHLOptions o;
    o.free = test::tight_relax();
    o.clamped = is_langevin(method) ? langevin_phase(method, temperature) : test::tight_relax();
    o.langevin = sampling(true);
    return o;
  };
  const Eigen::VectorXd det = st.run(ContrastiveHebbian<double>(options(Method::rk4, 0)));
  for (Method m : {Method::ula, Method::mala}) {
    const Curve c = error_against_temperature(std::string("CHL/") + std::string(to_string(m)) + " antithetic",
                                              [&](double t) { return st.run(ContrastiveHebbian<double>(options(m, t))); },
                                              det);
    EXPECT_GE(c.slope, 0.85);
    EXPECT_LE(c.slope, 1.15);
  }
}

TEST(LangevinLimits, EarlyInferenceTendsToDeterministicEarlyInferenceLinearlyInTemperature) {
  const Network st;
  auto options = [](Method method, double temperature) {
    EarlyInferenceOptions o;
    o.free = test::tight_relax();
    o.beta = 0.1;
    o.dt = 0.5;
    o.steps = 3;
    o.nudged = langevin_phase(method, temperature);
    o.langevin = sampling(true, 64);
    return o;
  };
  const Eigen::VectorXd det = st.run(EarlyInference<double>(options(Method::euler, 0)));
  const Curve c = error_against_temperature(
      "early inference/ULA antithetic", [&](double t) { return st.run(EarlyInference<double>(options(Method::ula, t))); },
      det);
  EXPECT_GE(c.slope, 0.85);
  EXPECT_LE(c.slope, 1.15);
}

}  // namespace
}  // namespace ebm
