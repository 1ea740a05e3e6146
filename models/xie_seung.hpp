#pragma once
/// \file
/// The layered network of Xie & Seung (2003), in which contrastive Hebbian learning with a
/// weak, γ-scaled feedback computes backprop's update as γ → 0.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/activation.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/random.hpp"
#include "core/types.hpp"
#include "solvers/relax_options.hpp"
#include "solvers/summary.hpp"

namespace ebm {

/// Layers x₀ (input, clamped), x₁…x_{L−1} (hidden, nonlinearity f), x_L (linear output), with
/// feed-forward weights W_k and feedback through W_{k+1}ᵀ scaled by γ (Xie & Seung 2003):
/// \f[ \frac{dx_k}{dt} = -x_k + f\big(W_k x_{k-1} + \gamma W_{k+1}^\top x_{k+1} + b_k\big), \quad k < L,
///     \qquad \frac{dx_L}{dt} = -x_L + W_L x_{L-1} + b_L \f]
/// in the free phase; in the clamped phase x_L = d. At γ = 0 the free fixed point is the
/// feed-forward pass; the clamped phase then perturbs layer k by γ^{L−k} times backprop's
/// error signal δ_k, which the per-layer factor γ^{k−L} of the update undoes.
///
/// The state stacks x₁…x_L (units × batch), like LayeredHopfield; the parameters are W₁…W_L
/// (n_k × n_{k−1}, column-major) then b₁…b_L, with the same block names.
template <std::floating_point T>
class XieSeungNetwork {
 public:
  using Scalar = T;

  /// What one relaxation did.
  struct Relaxation {
    long steps = 0;
    double residual = 0;  ///< largest ‖dx/dt‖₂ over the batch at the end
    bool converged = false;
  };

  explicit XieSeungNetwork(std::vector<Index> sizes, Activation f = Activation::Kind::tanh, T gamma = T(1))
      : sizes_(std::move(sizes)), f_(f), gamma_(gamma) {
    require<InvalidOptions>(gamma > T(0) && gamma <= T(1), "XieSeungNetwork: gamma must be in (0, 1], got ", gamma);
    require<InvalidOptions>(sizes_.size() >= 2, "XieSeungNetwork needs at least an input and an output layer");
    for (std::size_t k = 0; k < sizes_.size(); ++k)
      require<InvalidOptions>(sizes_[k] > 0, "XieSeungNetwork layer ", k, " has no units");
    Index offset = 0;
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      blocks_.push_back({name('W', k), offset, sizes_[k], sizes_[k - 1]});
      offset += sizes_[k] * sizes_[k - 1];
    }
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      blocks_.push_back({name('b', k), offset, sizes_[k], 1});
      offset += sizes_[k];
    }
    params_ = Vector<T>::Zero(offset);
    Index row = 0;
    for (std::size_t k = 1; k < sizes_.size(); ++k) layers_.push_back({row, sizes_[k]}), row += sizes_[k];
    state_size_ = row;
  }

  /// Glorot-uniform weights scaled by `gain`, zero biases, reproducible from `seed`.
  void init_glorot(std::uint64_t seed, T gain = T(1)) {
    Rng rng(seed, 0);
    for (Index k = 1; k <= num_layers(); ++k) {
      auto w = weight(k);
      const double limit = gain * std::sqrt(6.0 / double(w.rows() + w.cols()));
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      bias(k).setZero();
    }
  }

  Index num_layers() const { return Index(sizes_.size()) - 1; }
  /// The feedback gain γ of the network's own dynamics (evaluation, and CHL through the tool).
  T gamma() const { return gamma_; }
  Index state_size() const { return state_size_; }
  Index input_size() const { return sizes_.front(); }
  Block output_block() const { return layers_.back(); }
  std::vector<Block> layer_blocks() const { return layers_; }
  Vector<T>& params() { return params_; }
  const Vector<T>& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  Eigen::Map<Matrix<T>> weight(Index k) {
    const ParamBlock& b = blocks_[std::size_t(k - 1)];
    return {params_.data() + b.offset, b.rows, b.cols};
  }
  Eigen::Map<const Matrix<T>> weight(Index k) const {
    const ParamBlock& b = blocks_[std::size_t(k - 1)];
    return {params_.data() + b.offset, b.rows, b.cols};
  }
  Eigen::Map<Vector<T>> bias(Index k) {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return {params_.data() + b.offset, b.rows};
  }
  Eigen::Map<const Vector<T>> bias(Index k) const {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return {params_.data() + b.offset, b.rows};
  }
  template <class S> auto layer(S&& s, Index k) const {
    return s.middleRows(layers_[std::size_t(k - 1)].offset, layers_[std::size_t(k - 1)].size);
  }

  /// dx/dt at `s` with feedback gain γ; with `clamped` the output does not move.
  void velocity(ConstRef<T> s, ConstRef<T> x, T gamma, bool clamped, MutRef<T> v) const {
    const Index L = num_layers();
    Matrix<T> pre;
    for (Index k = 1; k <= L; ++k) {
      pre = k == 1 ? Matrix<T>(weight(1) * x) : Matrix<T>(weight(k) * layer(s, k - 1));
      pre.colwise() += bias(k);
      if (k < L) {
        pre.noalias() += gamma * (weight(k + 1).transpose() * layer(s, k + 1));
        Matrix<T> r(pre.rows(), pre.cols());
        f_.rho(pre, r);
        layer(v, k) = r - layer(s, k);
      } else {
        layer(v, k) = clamped ? Matrix<T>::Zero(pre.rows(), pre.cols()) : Matrix<T>(pre - layer(s, k));
      }
    }
  }

  /// Relaxes `s` by Euler steps of size options.dt until every example has ‖dx/dt‖ < options.grad_tol
  /// (or options.max_steps). With `target` the output is clamped to it first (the clamped phase).
  Relaxation relax(ConstRef<T> x, Matrix<T>& s, T gamma, const RelaxOptions& options,
                   const Matrix<T>* target = nullptr) const {
    require<InvalidOptions>(options.method == Method::euler || options.method == Method::fixed_point,
                            "the Xie–Seung dynamics has no energy to hand to odeint: use relax.method = euler "
                            "or fixed_point, not ", to_string(options.method));
    require<DimensionMismatch>(s.rows() == state_size_ && s.cols() == x.cols() && x.rows() == input_size(),
                               "XieSeungNetwork::relax: state or input of the wrong shape");
    if (target) layer(s, num_layers()) = *target;
    Matrix<T> v(s.rows(), s.cols());
    Relaxation r;
    for (;; ++r.steps) {
      velocity(s, x, gamma, target != nullptr, v);
      r.residual = double(v.colwise().norm().maxCoeff());
      require<DivergenceError>(std::isfinite(r.residual), "Xie–Seung relaxation diverged at step ", r.steps);
      if (r.residual < options.grad_tol) {
        r.converged = true;
        break;
      }
      if (r.steps >= options.max_steps) break;
      s += T(options.dt) * v;
    }
    return r;
  }

  /// The free phase at the network's own γ, reported as a RelaxSummary (what a trainer's
  /// evaluation needs from a model without an energy).
  RelaxSummary relax_free(ConstRef<T> x, Matrix<T>& s, const RelaxOptions& options) const {
    const Relaxation r = relax(x, s, gamma_, options);
    RelaxSummary summary;
    summary.method = options.method;
    summary.steps_accepted = r.steps;
    summary.final_grad_norm = r.residual;
    summary.termination = r.converged ? Termination::converged : Termination::step_budget;
    summary.examples = long(s.cols());
    return summary;
  }

  /// The feed-forward pass (the free fixed point at γ = 0).
  Matrix<T> feedforward(ConstRef<T> x) const {
    Matrix<T> s(state_size_, x.cols()), pre;
    for (Index k = 1; k <= num_layers(); ++k) {
      pre = k == 1 ? Matrix<T>(weight(1) * x) : Matrix<T>(weight(k) * layer(s, k - 1));
      pre.colwise() += bias(k);
      if (k < num_layers()) f_.rho(pre, layer(s, k));
      else layer(s, k) = pre;
    }
    return s;
  }

  /// Backprop through the feed-forward pass: Σ over the batch of ∂C/∂θ, C = ½‖x_L − d‖².
  Vector<T> backprop_gradient(ConstRef<T> x, ConstRef<T> d) const {
    const Index L = num_layers();
    const Matrix<T> s = feedforward(x);
    Vector<T> grad = Vector<T>::Zero(params_.size());
    Matrix<T> delta = layer(s, L) - d;  // ∂C/∂(pre-activation of layer L): the output is linear
    for (Index k = L; k >= 1; --k) {
      const ParamBlock& wb = blocks_[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      gw = k == 1 ? Matrix<T>(delta * x.transpose()) : Matrix<T>(delta * layer(s, k - 1).transpose());
      grad.segment(blocks_[std::size_t(L + k - 1)].offset, sizes_[std::size_t(k)]) = delta.rowwise().sum();
      if (k > 1) {
        // δ_{k−1} = f'(pre_{k−1}) ⊙ W_kᵀ δ_k, the pre-activation recomputed from the layer below.
        Matrix<T> pre = weight(k - 1) * (k - 1 == 1 ? Matrix<T>(x) : Matrix<T>(layer(s, k - 2)));
        pre.colwise() += bias(k - 1);
        Matrix<T> dp(pre.rows(), pre.cols());
        f_.d_rho(pre, dp);
        delta = (dp.array() * (weight(k).transpose() * delta).array()).matrix();
      }
    }
    return grad;
  }

 private:
  static std::string name(char prefix, std::size_t k) {
    std::string n(1, prefix);
    n.append(std::to_string(k));
    return n;
  }

  std::vector<Index> sizes_;
  Activation f_;
  T gamma_;
  std::vector<ParamBlock> blocks_;
  std::vector<Block> layers_;
  Index state_size_ = 0;
  Vector<T> params_;
};

/// What a XieSeungNetwork is built from (the config's [model] table for kind xie_seung).
struct XieSeungOptions {
  std::vector<Index> sizes = {784, 64, 10};
  Activation activation = Activation::Kind::tanh;
  double gamma = 0.5;  ///< feedback gain: backprop's update as γ → 0, a weaker signal too
  std::uint64_t init_seed = 1;
  double init_gain = 1.0;

  static constexpr auto fields() {
    using O = XieSeungOptions;
    return std::tuple{
        field("sizes", &O::sizes, "units per layer: input, hidden..., output (linear)", checks::LayerSizes{}),
        field("activation", &O::activation, "f of the hidden layers: tanh, logistic or hard_sigmoid"),
        field("gamma", &O::gamma, "feedback gain gamma in (0, 1]", checks::InOpenClosed{0, 1}),
        field("init_seed", &O::init_seed, "seed of the initial weights"),
        field("init_gain", &O::init_gain, "Glorot-uniform weights scaled by this gain", positive),
    };
  }
};

/// The registry's description of XieSeungNetwork (cli/registry.hpp). It has no energy: the
/// rules that need one do not apply, CHL runs its γ-feedback form.
struct XieSeungKind {
  static constexpr std::string_view name = "xie_seung";
  static constexpr std::string_view doc =
      "Xie & Seung (2003): feed-forward weights, feedback scaled by gamma, linear output; no energy (CHL only)";
  using Options = XieSeungOptions;
  template <class T>
  using Model = XieSeungNetwork<T>;

  template <class T>
  static XieSeungNetwork<T> make(const Options& o) {
    XieSeungNetwork<T> net(o.sizes, o.activation, T(o.gamma));
    net.init_glorot(o.init_seed, T(o.init_gain));
    return net;
  }
};

}  // namespace ebm
