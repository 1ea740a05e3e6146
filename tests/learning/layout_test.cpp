// Every estimator returns an update laid out as the parameters, and tied weights stay tied.
#include <gtest/gtest.h>

#include "learning/bptt.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/stochastic_ep.hpp"
#include "learning_util.hpp"

namespace ebm {
namespace {

// A fully connected Hopfield energy (THEORY.md §0) whose symmetric W is stored as a full n × n matrix:
// E = ½‖s‖² − ½ Σ_{i≠j} W_ij ρ(s_i)ρ(s_j) − ρ(s)ᵀU x − bᵀρ(s). W_ij and W_ji are one tied weight, so
// ∂E/∂W_ij = ∂E/∂W_ji = −½ρ_iρ_j and the diagonal has none; an update that breaks this unties them.
class DenseHopfield {
 public:
  using Scalar = double;
  DenseHopfield(Index n, Index m, Index out, std::uint64_t seed) : n_(n), m_(m), out_(out) {
    blocks_ = {{"W", 0, n, n}, {"U", n * n, n, m}, {"b", n * n + n * m, n, 1}};
    params_ = test::uniform_matrix(n * n + n * m + n, 1, -1, 1, seed);
    Eigen::Map<Eigen::MatrixXd> w(params_.data(), n, n);
    w = 0.5 * (Eigen::MatrixXd(w) + Eigen::MatrixXd(w.transpose()));
    w.diagonal().setZero();
  }
  Index state_size() const { return n_; }
  Index input_size() const { return m_; }
  Block output_block() const { return {n_ - out_, out_}; }
  std::vector<Block> layer_blocks() const { return {{0, n_ - out_}, {n_ - out_, out_}}; }
  Eigen::VectorXd& params() { return params_; }
  const Eigen::VectorXd& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }
  RowVector<double> energy(ConstRef<double> s, ConstRef<double> x) const {
    const Eigen::MatrixXd r = s.array().tanh().matrix();
    return 0.5 * s.colwise().squaredNorm() - 0.5 * (r.array() * (w() * r).array()).colwise().sum().matrix() -
           (r.array() * (u() * x).array()).colwise().sum().matrix() - b().transpose() * r;
  }
  void state_gradient(ConstRef<double> s, ConstRef<double> x, MutRef<double> g) const {
    const Eigen::MatrixXd r = s.array().tanh().matrix();
    Eigen::MatrixXd pre = w() * r + u() * x;
    pre.colwise() += b();
    g = s - ((1 - r.array().square()) * pre.array()).matrix();
  }
  void param_gradient(ConstRef<double> s, ConstRef<double> x, VectorRef<double> g) const {
    const Eigen::MatrixXd r = s.array().tanh().matrix();
    Eigen::Map<Eigen::MatrixXd> gw(g.data(), n_, n_), gu(g.data() + n_ * n_, n_, m_);
    gw = -0.5 * r * r.transpose();
    gw.diagonal().setZero();
    gu = -r * x.transpose();
    g.tail(n_) = -r.rowwise().sum();
  }

 private:
  Eigen::Map<const Eigen::MatrixXd> w() const { return {params_.data(), n_, n_}; }
  Eigen::Map<const Eigen::MatrixXd> u() const { return {params_.data() + n_ * n_, n_, m_}; }
  Eigen::Map<const Eigen::VectorXd> b() const { return {params_.data() + n_ * n_ + n_ * m_, n_}; }
  Index n_, m_, out_;
  std::vector<ParamBlock> blocks_;
  Eigen::VectorXd params_;
};
static_assert(check_energy_model<DenseHopfield>());

template <class E, class M>
Eigen::VectorXd run(const E& estimator, const M& model, const Eigen::MatrixXd& x, const Eigen::MatrixXd& d) {
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(model.state_size(), x.cols());
  Eigen::VectorXd g = Eigen::VectorXd::Constant(model.params().size(), std::nan(""));
  estimator.estimate(model, x, d, s, g);
  return g;
}

TEST(EstimatorLayout, UpdatesOfADenseHopfieldKeepTiedWeightsTied) {
  DenseHopfield net(6, 3, 2, 4);
  const Eigen::MatrixXd x = test::uniform_matrix(3, 4, 0, 1, 4, 1), d = test::uniform_matrix(2, 4, -.8, .8, 4, 2);
  std::vector<std::pair<std::string, Eigen::VectorXd>> updates;
  for (EPVariant v : {EPVariant::one_sided, EPVariant::symmetric, EPVariant::random_sign}) {
    EPOptions o;
    o.free = o.nudged = test::tight_relax();
    o.beta = 0.1;
    o.variant = v;
    updates.emplace_back(std::string("ep_") + std::string(to_string(v)), run(EquilibriumProp<double>(o), net, x, d));
  }
  CHLOptions chl;
  chl.free = chl.clamped = test::tight_relax();
  updates.emplace_back("chl", run(ContrastiveHebbian<double>(chl), net, x, d));
  EarlyInferenceOptions early;
  early.free = test::tight_relax();
  updates.emplace_back("early", run(EarlyInference<double>(early), net, x, d));
  StochasticEPOptions sto;
  sto.langevin.temperature = 0.01;
  sto.burn_in = sto.samples = 50;
  sto.chains = 2;
  updates.emplace_back("stochastic_ep", run(StochasticEP<double>(sto), net, x, d));
  for (const auto& [name, g] : updates) {
    ASSERT_EQ(g.size(), net.params().size()) << name;
    EXPECT_TRUE(g.allFinite()) << name;
    const Eigen::Map<const Eigen::MatrixXd> gw(g.data(), 6, 6);
    EXPECT_LE((gw - gw.transpose()).cwiseAbs().maxCoeff(), 1e-14 * (1 + gw.cwiseAbs().maxCoeff())) << name;
    EXPECT_EQ(gw.diagonal().cwiseAbs().maxCoeff(), 0.0) << name;
    EXPECT_GT(gw.norm(), 0.0) << name;
  }
}

TEST(EstimatorLayout, EveryEstimatorFillsEveryBlockOfALayeredNetwork) {
  const test::SmallProblem p;
  std::vector<std::pair<std::string, Eigen::VectorXd>> updates;
  updates.emplace_back("exact", run(ExactGradient<double>(), p.net, p.x, p.d));
  BpttOptions bptt;
  bptt.free = test::tight_relax();
  updates.emplace_back("bptt", run(Bptt<double>(bptt), p.net, p.x, p.d));
  EPOptions ep;
  ep.free = ep.nudged = test::tight_relax();
  updates.emplace_back("ep", run(EquilibriumProp<double>(ep), p.net, p.x, p.d));
  CHLOptions chl;
  chl.free = chl.clamped = test::tight_relax();
  updates.emplace_back("chl", run(ContrastiveHebbian<double>(chl), p.net, p.x, p.d));
  updates.emplace_back("early", run(EarlyInference<double>(EarlyInferenceOptions{test::tight_relax()}), p.net, p.x, p.d));
  for (const auto& [name, g] : updates) {
    ASSERT_EQ(g.size(), p.net.params().size()) << name;
    EXPECT_TRUE(g.allFinite()) << name;
    for (const ParamBlock& b : p.net.param_blocks()) EXPECT_GT(test::block_of(g, b).norm(), 0.0) << name << " " << b.name;
  }
}

}  // namespace
}  // namespace ebm
