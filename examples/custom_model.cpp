// A model defined outside the library, registered with the `ebm` tool in one line, and trained,
// relaxed and inspected by it like the built-in ones (`ebm_custom train --set model.kind=linear_readout`).
//
// The energy: one logistic hidden layer h and linear output units y (a continuous Hopfield
// network whose readout is not squashed, so the cost sees unbounded outputs),
//   E(h, y; x) = ½|h|² + ½|y|² − ρ(h)ᵀ(W₁x + b₁) − yᵀ(W₂ρ(h) + b₂),
//   ∂E/∂h = h − ρ'(h) ⊙ (W₁x + b₁ + W₂ᵀy),   ∂E/∂y = y − W₂ρ(h) − b₂,
//   ∂E/∂W₁ = −ρ(h)xᵀ, ∂E/∂b₁ = −ρ(h), ∂E/∂W₂ = −yρ(h)ᵀ, ∂E/∂b₂ = −y (summed over the batch).
// It has no second-order products, so the registry offers it the rules that need none (ep,
// chl, early_inference, stochastic_ep) and refuses recurrent_backprop and bptt by name.
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "cli/registry.hpp"
#include "cli/tool.hpp"
#include "core/activation.hpp"
#include "core/fields.hpp"
#include "core/random.hpp"

namespace example {

using ebm::Index;

template <class T>
class LinearReadout {
 public:
  using Scalar = T;

  LinearReadout(Index inputs, Index hidden, Index outputs) : n_{inputs, hidden, outputs} {
    blocks_ = {{"W1", 0, hidden, inputs},
               {"W2", hidden * inputs, outputs, hidden},
               {"b1", hidden * inputs + outputs * hidden, hidden, 1},
               {"b2", hidden * inputs + outputs * hidden + hidden, outputs, 1}};
    params_ = ebm::Vector<T>::Zero(blocks_.back().offset + outputs);
  }

  Index state_size() const { return n_[1] + n_[2]; }
  Index input_size() const { return n_[0]; }
  ebm::Block output_block() const { return {n_[1], n_[2]}; }
  std::vector<ebm::Block> layer_blocks() const { return {{0, n_[1]}, {n_[1], n_[2]}}; }
  ebm::Vector<T>& params() { return params_; }
  const ebm::Vector<T>& params() const { return params_; }
  const std::vector<ebm::ParamBlock>& param_blocks() const { return blocks_; }

  ebm::RowVector<T> energy(ebm::ConstRef<T> s, ebm::ConstRef<T> x) const {
    const ebm::Matrix<T> r = rho(s.topRows(n_[1]));
    const auto y = s.bottomRows(n_[2]);
    ebm::Matrix<T> drive1 = w(0) * x;
    drive1.colwise() += b(2);
    ebm::Matrix<T> drive2 = w(1) * r;
    drive2.colwise() += b(3);
    return T(0.5) * s.colwise().squaredNorm() - (r.array() * drive1.array()).matrix().colwise().sum() -
           (y.array() * drive2.array()).matrix().colwise().sum();
  }

  void state_gradient(ebm::ConstRef<T> s, ebm::ConstRef<T> x, ebm::MutRef<T> g) const {
    const auto h = s.topRows(n_[1]);
    const auto y = s.bottomRows(n_[2]);
    ebm::Matrix<T> input = w(0) * x + w(1).transpose() * y;
    input.colwise() += b(2);
    ebm::Matrix<T> dr(n_[1], s.cols());
    rho_.d_rho(h, dr);
    g.topRows(n_[1]) = h - (dr.array() * input.array()).matrix();
    ebm::Matrix<T> out = w(1) * rho(h);
    out.colwise() += b(3);
    g.bottomRows(n_[2]) = y - out;
  }

  void param_gradient(ebm::ConstRef<T> s, ebm::ConstRef<T> x, ebm::VectorRef<T> grad) const {
    const ebm::Matrix<T> r = rho(s.topRows(n_[1]));
    const auto y = s.bottomRows(n_[2]);
    map(grad, 0) = -r * x.transpose();
    map(grad, 1) = -y * r.transpose();
    map(grad, 2) = -r.rowwise().sum();
    map(grad, 3) = -y.rowwise().sum();
  }

  /// Uniform weights in ±gain/√fan_in, zero biases, reproducible from `seed`.
  void init(std::uint64_t seed, double gain) {
    ebm::Rng rng(seed, 0);
    for (int k = 0; k < 2; ++k) {
      auto m = map(params_, k);
      const double limit = gain / std::sqrt(double(m.cols()));
      for (Index i = 0; i < m.size(); ++i) m.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
    }
  }

 private:
  ebm::Matrix<T> rho(ebm::ConstRef<T> h) const {
    ebm::Matrix<T> r(h.rows(), h.cols());
    rho_.rho(h, r);
    return r;
  }
  template <class V>
  Eigen::Map<ebm::Matrix<T>> map(V&& v, int block) const {
    const ebm::ParamBlock& p = blocks_[std::size_t(block)];
    return {const_cast<T*>(v.data()) + p.offset, p.rows, p.cols};
  }
  auto w(int k) const { return Eigen::Map<const ebm::Matrix<T>>(params_.data() + blocks_[std::size_t(k)].offset,
                                                                 blocks_[std::size_t(k)].rows, blocks_[std::size_t(k)].cols); }
  auto b(int k) const { return Eigen::Map<const ebm::Vector<T>>(params_.data() + blocks_[std::size_t(k)].offset,
                                                                 blocks_[std::size_t(k)].rows); }

  Index n_[3];
  ebm::Activation rho_ = ebm::Activation::Kind::logistic;
  std::vector<ebm::ParamBlock> blocks_;
  ebm::Vector<T> params_;
};

static_assert(ebm::EnergyModel<LinearReadout<float>>);

/// Its options, declared once: the config's [model] table for kind linear_readout.
struct LinearReadoutOptions {
  Index inputs = 784, hidden = 128, outputs = 10;
  std::uint64_t init_seed = 1;
  double init_gain = 1.0;
  static constexpr auto fields() {
    using O = LinearReadoutOptions;
    return std::tuple{ebm::field("inputs", &O::inputs, "input units (pixels)", ebm::positive),
                      ebm::field("hidden", &O::hidden, "logistic hidden units", ebm::positive),
                      ebm::field("outputs", &O::outputs, "linear output units (classes)", ebm::positive),
                      ebm::field("init_seed", &O::init_seed, "seed of the initial weights"),
                      ebm::field("init_gain", &O::init_gain, "weights uniform in ±gain/sqrt(fan_in)", ebm::positive)};
  }
};

/// The kind the registry needs: name, doc, options and factory.
struct LinearReadoutKind {
  static constexpr std::string_view name = "linear_readout";
  static constexpr std::string_view doc = "examples/custom_model.cpp: logistic hidden layer, linear output units";
  using Options = LinearReadoutOptions;
  template <class T>
  using Model = LinearReadout<T>;
  template <class T>
  static LinearReadout<T> make(const Options& o) {
    LinearReadout<T> m(o.inputs, o.hidden, o.outputs);
    m.init(o.init_seed, o.init_gain);
    return m;
  }
};

}  // namespace example

int main(int argc, char** argv) {
  ebm::cli::register_builtins();
  ebm::cli::register_model<example::LinearReadoutKind>();  // the one registration line
  return ebm::cli::run(argc, argv, EBM_SOURCE_DIR);
}
