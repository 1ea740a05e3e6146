#pragma once
/// \file
/// The predictive-coding energy of Whittington & Bogacz (2017): each layer predicts the next, and
/// the energy is the precision-weighted sum of the prediction errors.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/activation.hpp"
#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/random.hpp"
#include "core/types.hpp"
#include "models/layered_hopfield.hpp"  // InitKind

namespace ebm {

/// Predictive-coding network (Whittington & Bogacz 2017): input x₀ = x (clamped), value nodes
/// x₁…x_L, predictions and prediction errors
/// \f[ \mu_l = W_l f(x_{l-1}) + b_l, \qquad \varepsilon_l = \frac{x_l - \mu_l}{\Sigma_l}, \qquad
///     F(x) = \sum_{l=1}^{L} \frac{\lVert x_l - \mu_l \rVert^2}{2\Sigma_l}, \qquad f(x_0) := x_0. \f]
/// As in LayeredHopfield the input enters as a rate (f is not applied to the pixels), so W₁x is
/// constant during a relaxation. The Σ_l are fixed variances (one per layer, not learnt).
///
/// \f[ \partial F/\partial x_l = \varepsilon_l - f'(x_l) \odot W_{l+1}^\top \varepsilon_{l+1}
///     \quad (\text{no second term for } l = L), \f]
/// \f[ \partial F/\partial W_l = -\varepsilon_l f(x_{l-1})^\top, \qquad \partial F/\partial b_l = -\varepsilon_l. \f]
/// With the output free, F has its minimum 0 at the feed-forward pass x_l = μ_l (every ε is 0):
/// the network computes y = x_L = W_L f(⋯ f(W₁x + b₁) ⋯) + b_L, a multilayer perceptron with a linear
/// output, and free_fixed_point() gives it in closed form. Learning clamps (or nudges) the output
/// and relaxes the hidden layers; then ΔW_l = ε_l f(x_{l−1})ᵀ = −∂F/∂W_l is local and Hebbian.
///
/// The state stacks x₁…x_L (units × batch); the parameters are W₁…W_L (n_l × n_{l−1},
/// column-major) then b₁…b_L, with the block names of LayeredHopfield (W1, b1, …).
template <std::floating_point T>
class PredictiveCoding {
 public:
  using Scalar = T;
  /// Scratch space of the driven evaluations (one per system, i.e. per thread).
  struct Workspace {
    Matrix<T> e;  ///< ε per layer
    Matrix<T> a;  ///< f(x)
    Matrix<T> back, d;
  };

  /// `sizes` = {n₀ (input), n₁, …, n_L (output)}; `variances` = {Σ₁, …, Σ_L} (empty: all 1).
  explicit PredictiveCoding(std::vector<Index> sizes, Activation f = Activation::Kind::tanh,
                            std::vector<T> variances = {})
      : sizes_(std::move(sizes)), f_(f), variances_(std::move(variances)) {
    require<InvalidOptions>(sizes_.size() >= 2, "PredictiveCoding needs at least an input and an output layer, got ",
                            sizes_.size(), " layer size(s)");
    for (std::size_t k = 0; k < sizes_.size(); ++k)
      require<InvalidOptions>(sizes_[k] > 0, "PredictiveCoding layer ", k, " has size ", sizes_[k],
                              "; every layer needs at least one unit");
    if (variances_.empty()) variances_.assign(sizes_.size() - 1, T(1));
    require<InvalidOptions>(variances_.size() == sizes_.size() - 1, "PredictiveCoding needs one variance per layer "
                            "after the input (", sizes_.size() - 1, "), got ", variances_.size());
    for (std::size_t k = 0; k < variances_.size(); ++k) check_variance(Index(k + 1), variances_[k]);
    Index offset = 0;
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      blocks_.push_back({block_name('W', k), offset, sizes_[k], sizes_[k - 1]});
      offset += sizes_[k] * sizes_[k - 1];
    }
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      blocks_.push_back({block_name('b', k), offset, sizes_[k], 1});
      offset += sizes_[k];
    }
    params_ = Vector<T>::Zero(offset);
    Index row = 0;
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      layers_.push_back({row, sizes_[k]});
      row += sizes_[k];
    }
    state_size_ = row;
  }

  /// Fan-in uniform weights and biases, W_l, b_l ~ U(±gains[l−1]/√n_{l−1}) (PyTorch's nn.Linear),
  /// drawn as LayeredHopfield::init_fan_in_uniform draws them (W₁, b₁, W₂, … from Rng(seed, 1)).
  void init_fan_in_uniform(std::uint64_t seed, std::vector<T> gains = {}) {
    if (gains.empty()) gains.assign(std::size_t(num_layers()), T(1));
    check_gains(gains);
    Rng rng(seed, 1);
    for (Index k = 1; k <= num_layers(); ++k) {
      const double limit = double(gains[std::size_t(k - 1)]) / std::sqrt(double(sizes_[std::size_t(k - 1)]));
      auto w = weight(k);
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      auto b = bias(k);
      for (Index i = 0; i < b.size(); ++i) b[i] = T((2.0 * rng.uniform() - 1.0) * limit);
    }
  }
  /// Glorot-uniform weights, W_l ~ U(±gains[l−1]·√(6 / (n_l + n_{l−1}))), zero biases (Rng(seed, 0)).
  void init_glorot(std::uint64_t seed, std::vector<T> gains = {}) {
    if (gains.empty()) gains.assign(std::size_t(num_layers()), T(1));
    check_gains(gains);
    Rng rng(seed, 0);
    for (Index k = 1; k <= num_layers(); ++k) {
      auto w = weight(k);
      const double limit = double(gains[std::size_t(k - 1)]) * std::sqrt(6.0 / double(w.rows() + w.cols()));
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      bias(k).setZero();
    }
  }

  Index num_layers() const { return Index(sizes_.size()) - 1; }
  const std::vector<Index>& sizes() const { return sizes_; }
  const Activation& activation() const { return f_; }
  /// Σ_l, l = 1…L.
  T variance(Index l) const { return variances_[std::size_t(l - 1)]; }
  void set_variance(Index l, T v) {
    check_variance(l, v);
    variances_[std::size_t(l - 1)] = v;
  }
  const std::vector<T>& variances() const { return variances_; }

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
  /// Layer k's rows (k = 1…L) of a state-shaped matrix.
  template <class S>
  auto layer(S&& s, Index k) const {
    return s.middleRows(layers_[std::size_t(k - 1)].offset, layers_[std::size_t(k - 1)].size);
  }

  /// The free fixed point in closed form: the feed-forward pass x_l = μ_l (F = 0 there).
  void free_fixed_point(ConstRef<T> x, Matrix<T>& s) const {
    check_input(x);
    s.resize(state_size_, x.cols());
    Matrix<T> a;
    for (Index k = 1; k <= num_layers(); ++k) {
      if (k == 1) {
        layer(s, 1).noalias() = weight(1) * x;
      } else {
        a.resize(sizes_[std::size_t(k - 1)], x.cols());
        f_.rho(layer(s, k - 1), a);
        layer(s, k).noalias() = weight(k) * a;
      }
      layer(s, k).colwise() += bias(k);
    }
  }
  Matrix<T> feedforward(ConstRef<T> x) const {
    Matrix<T> s;
    free_fixed_point(x, s);
    return s;
  }

  // --- The fast path (HasInputDrive): μ₁ = W₁x + b₁ is constant during a relaxation.
  Index input_drive_rows() const { return sizes_[1]; }
  /// drive = μ₁ = W₁x + b₁.
  void input_drive(ConstRef<T> x, MutRef<T> drive) const {
    check_input(x);
    drive.noalias() = weight(1) * x;
    drive.colwise() += bias(1);
  }

  /// ε_l = (x_l − μ_l)/Σ_l for every layer, given μ₁ (`drive`); `a` receives f(x).
  void errors_driven(ConstRef<T> s, ConstRef<T> drive, Matrix<T>& e, Matrix<T>& a) const {
    check_state(s, drive.cols());
    e.resize(state_size_, s.cols());
    a.resize(state_size_, s.cols());
    f_.rho(s, a);
    for (Index k = 1; k <= num_layers(); ++k) {
      auto ek = layer(e, k);
      if (k == 1) {
        ek = layer(s, 1) - drive;
      } else {
        ek.noalias() = -weight(k) * layer(a, k - 1);
        ek.colwise() -= bias(k);
        ek += layer(s, k);
      }
      ek /= variance(k);
    }
  }
  /// ε for every layer (state-shaped).
  Matrix<T> errors(ConstRef<T> s, ConstRef<T> x) const {
    Matrix<T> drive(sizes_[1], x.cols()), e, a;
    input_drive(x, drive);
    errors_driven(s, drive, e, a);
    return e;
  }

  RowVector<T> energy_driven(ConstRef<T> s, ConstRef<T> drive, Workspace& ws) const {
    errors_driven(s, drive, ws.e, ws.a);
    RowVector<T> out = RowVector<T>::Zero(s.cols());
    for (Index k = 1; k <= num_layers(); ++k) out += (variance(k) / T(2)) * layer(ws.e, k).colwise().squaredNorm();
    return out;
  }
  void state_gradient_driven(ConstRef<T> s, ConstRef<T> drive, MutRef<T> g, Workspace& ws) const {
    require<DimensionMismatch>(g.rows() == s.rows() && g.cols() == s.cols(), "gradient output is ", g.rows(), "×",
                               g.cols(), " but the state is ", s.rows(), "×", s.cols());
    errors_driven(s, drive, ws.e, ws.a);
    g = ws.e;
    for (Index k = 1; k < num_layers(); ++k) {
      ws.back.resize(sizes_[std::size_t(k)], s.cols());
      ws.back.noalias() = weight(k + 1).transpose() * layer(ws.e, k + 1);
      ws.d.resize(ws.back.rows(), ws.back.cols());
      f_.d_rho(layer(s, k), ws.d);
      layer(g, k).array() -= ws.d.array() * ws.back.array();
    }
  }

  RowVector<T> energy(ConstRef<T> s, ConstRef<T> x) const {
    Matrix<T> drive(sizes_[1], x.cols());
    input_drive(x, drive);
    Workspace ws;
    return energy_driven(s, drive, ws);
  }
  void state_gradient(ConstRef<T> s, ConstRef<T> x, MutRef<T> g) const {
    Matrix<T> drive(sizes_[1], x.cols());
    input_drive(x, drive);
    Workspace ws;
    state_gradient_driven(s, drive, g, ws);
  }

  /// grad = Σ over the batch of −e_l f(x_{l−1})ᵀ (W_l) and −e_l (b_l) for given per-layer errors
  /// `e` (state-shaped), the rates read at `s`: ∂F/∂θ when e = ε(s).
  void param_gradient_from_errors(ConstRef<T> s, ConstRef<T> x, ConstRef<T> e, VectorRef<T> grad) const {
    check_state(s, x.cols());
    require<DimensionMismatch>(grad.size() == params_.size(), "parameter gradient has ", grad.size(),
                               " entries but the model has ", params_.size(), " parameters");
    Matrix<T> a(state_size_, s.cols());
    f_.rho(s, a);
    for (Index k = 1; k <= num_layers(); ++k) {
      const ParamBlock& wb = blocks_[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      if (k == 1) gw.noalias() = -layer(e, 1) * x.transpose();
      else gw.noalias() = -layer(e, k) * layer(a, k - 1).transpose();
      grad.segment(blocks_[std::size_t(num_layers() + k - 1)].offset, sizes_[std::size_t(k)]) =
          -layer(e, k).rowwise().sum();
    }
  }
  void param_gradient(ConstRef<T> s, ConstRef<T> x, VectorRef<T> grad) const {
    param_gradient_from_errors(s, x, errors(s, x), grad);
  }

  /// The change of ε along v: δε_l = (v_l − W_l(f'(x_{l−1}) ⊙ v_{l−1}))/Σ_l (v₀ = 0: the input is clamped).
  Matrix<T> error_derivative(ConstRef<T> s, ConstRef<T> v) const {
    Matrix<T> d(s.rows(), s.cols());
    f_.d_rho(s, d);
    const Matrix<T> dv = (d.array() * v.array()).matrix();
    Matrix<T> de(s.rows(), s.cols());
    for (Index k = 1; k <= num_layers(); ++k) {
      if (k == 1) layer(de, 1) = layer(v, 1);
      else layer(de, k).noalias() = layer(v, k) - weight(k) * layer(dv, k - 1);
      layer(de, k) /= variance(k);
    }
    return de;
  }

  /// hv = (∂²F/∂x²) v per column:
  /// \f[ (Hv)_l = \delta\varepsilon_l - f''(x_l) \odot v_l \odot W_{l+1}^\top\varepsilon_{l+1}
  ///     - f'(x_l) \odot W_{l+1}^\top \delta\varepsilon_{l+1}. \f]
  void hessian_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, MutRef<T> hv) const {
    check_state(s, x.cols());
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols() && hv.rows() == s.rows() &&
                                   hv.cols() == s.cols(),
                               "hessian_vector: v and hv must have the shape of the state");
    const Matrix<T> e = errors(s, x), de = error_derivative(s, v);
    Matrix<T> d(s.rows(), s.cols()), d2(s.rows(), s.cols());
    f_.d_rho(s, d);
    f_.d2_rho(s, d2);
    hv = de;
    for (Index k = 1; k < num_layers(); ++k) {
      const Matrix<T> back = weight(k + 1).transpose() * layer(e, k + 1);
      const Matrix<T> dback = weight(k + 1).transpose() * layer(de, k + 1);
      layer(hv, k).array() -= layer(d2, k).array() * layer(v, k).array() * back.array() +
                              layer(d, k).array() * dback.array();
    }
  }

  /// g = Σ over the batch of (∂²F/∂x∂θ)ᵀ v, the change of ∂F/∂θ when x moves along v:
  /// \f[ (M^\top v)_{W_l} = -\delta\varepsilon_l f(x_{l-1})^\top - \varepsilon_l (f'(x_{l-1}) \odot v_{l-1})^\top,
  ///     \qquad (M^\top v)_{b_l} = -\delta\varepsilon_l. \f]
  void mixed_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, VectorRef<T> grad) const {
    check_state(s, x.cols());
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols(),
                               "mixed_vector: v must have the shape of the state");
    param_gradient_from_errors(s, x, error_derivative(s, v), grad);
    const Matrix<T> e = errors(s, x);
    Matrix<T> d(s.rows(), s.cols());
    f_.d_rho(s, d);
    const Matrix<T> dv = (d.array() * v.array()).matrix();
    for (Index k = 2; k <= num_layers(); ++k) {
      const ParamBlock& wb = blocks_[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      gw.noalias() -= layer(e, k) * layer(dv, k - 1).transpose();
    }
  }

 private:
  static std::string block_name(char prefix, std::size_t k) {
    std::string name(1, prefix);
    name.append(std::to_string(k));
    return name;
  }
  void check_variance(Index l, T v) const {
    require<InvalidOptions>(std::isfinite(double(v)) && v > T(0), "PredictiveCoding: the variance of layer ", l,
                            " must be positive and finite, got ", v);
  }
  void check_gains(const std::vector<T>& gains) const {
    require<InvalidOptions>(Index(gains.size()) == num_layers(), "PredictiveCoding init needs one gain per layer (",
                            num_layers(), "), got ", gains.size());
    for (T g : gains)
      require<InvalidOptions>(std::isfinite(double(g)) && g > T(0), "PredictiveCoding init: gains must be positive, got ", g);
  }
  void check_input(const ConstRef<T>& x) const {
    require<DimensionMismatch>(x.rows() == input_size(), "clamped input has ", x.rows(), " rows but the network ",
                               lazy_describe(), " has ", input_size(), " input units");
  }
  void check_state(const ConstRef<T>& s, Index batch) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ", lazy_describe(),
                               " has ", state_size_, " free units");
    require<DimensionMismatch>(s.cols() == batch, "clamped input has ", batch, " columns but the state has ",
                               s.cols());
  }
  /// describe() for a require() message, formatted only if it throws (see ebm::lazy).
  auto lazy_describe() const {
    return lazy([this] { return describe(); });
  }
  std::string describe() const {
    std::ostringstream o;
    for (std::size_t k = 0; k < sizes_.size(); ++k) o << (k ? "-" : "") << sizes_[k];
    return o.str();
  }

  std::vector<Index> sizes_;
  Activation f_;
  std::vector<T> variances_;
  std::vector<ParamBlock> blocks_;
  std::vector<Block> layers_;
  Index state_size_ = 0;
  Vector<T> params_;
};

/// What a PredictiveCoding network is built from (the config's [model] table for kind predictive_coding).
struct PredictiveCodingOptions {
  std::vector<Index> sizes = {784, 64, 10};  ///< input, hidden…, output
  Activation activation = Activation::Kind::tanh;
  /// Σ_l of the hidden layers and of the output layer; the ratio output/hidden sets how close the
  /// relaxed rule comes to backprop (error O(Σ_hidden/Σ_L), THEORY.md §5).
  double hidden_variance = 1.0;
  double output_variance = 1.0;
  std::vector<double> variances;  ///< one per layer after the input; overrides the two above when set
  std::uint64_t init_seed = 1;
  InitKind init = InitKind::fan_in_uniform;
  double init_gain = 1.0;
  std::vector<double> init_gains;  ///< one per layer after the input; empty: init_gain everywhere

  static constexpr auto fields() {
    using O = PredictiveCodingOptions;
    return std::tuple{
        field("sizes", &O::sizes, "units per layer: input, hidden..., output (linear; = the number of classes)",
              checks::LayerSizes{}),
        field("activation", &O::activation, "f in mu_l = W_l f(x_(l-1)) + b_l: tanh, logistic or hard_sigmoid"),
        field("hidden_variance", &O::hidden_variance, "Sigma_l of every hidden layer", positive),
        field("output_variance", &O::output_variance,
              "Sigma_L of the output layer (Sigma_L / Sigma_hidden large: the relaxed rule tends to backprop)",
              positive),
        field("variances", &O::variances, "one Sigma_l per layer after the input (empty: the two above)",
              checks::Every<checks::Positive>{}),
        field("init_seed", &O::init_seed, "seed of the initial weights"),
        field("init", &O::init, "fan_in_uniform (W, b ~ U(+-gain/sqrt(fan_in)), as PyTorch) or glorot (zero biases)"),
        field("init_gain", &O::init_gain, "gain of every layer's initial weights", positive),
        field("init_gains", &O::init_gains, "one gain per layer after the input (empty: init_gain)",
              checks::Every<checks::Positive>{}),
    };
  }

  bool is_valid(std::string* why, std::string_view prefix = "model.") const {
    if (!check_fields(*this, prefix, why)) return false;
    for (auto [list, name] : {std::pair{&variances, "variances"}, std::pair{&init_gains, "init_gains"}})
      if (!list->empty() && list->size() != sizes.size() - 1) {
        if (why)
          *why = std::string(prefix) + name + " needs one value per layer after the input (" +
                 std::to_string(sizes.size() - 1) + "), got " + std::to_string(list->size()) + " (or leave it empty)";
        return false;
      }
    return true;
  }

  /// Σ₁…Σ_L as these options set them.
  std::vector<double> layer_variances() const {
    if (!variances.empty()) return variances;
    std::vector<double> v(sizes.size() - 1, hidden_variance);
    v.back() = output_variance;
    return v;
  }
};

/// The registry's description of PredictiveCoding (cli/registry.hpp).
struct PredictiveCodingKind {
  static constexpr std::string_view name = "predictive_coding";
  static constexpr std::string_view doc =
      "predictive coding (Whittington & Bogacz 2017), F = sum |x_l - W_l f(x_(l-1)) - b_l|^2 / (2 Sigma_l); free "
      "fixed point = the feed-forward pass";
  using Options = PredictiveCodingOptions;
  template <class T>
  using Model = PredictiveCoding<T>;

  template <class T>
  static PredictiveCoding<T> make(const Options& o) {
    const std::vector<double> v = o.layer_variances();
    PredictiveCoding<T> net(o.sizes, o.activation, std::vector<T>(v.begin(), v.end()));
    std::vector<T> gains(o.sizes.size() - 1, T(o.init_gain));
    if (!o.init_gains.empty()) gains.assign(o.init_gains.begin(), o.init_gains.end());
    if (o.init == InitKind::glorot) net.init_glorot(o.init_seed, gains);
    else net.init_fan_in_uniform(o.init_seed, gains);
    return net;
  }
};

}  // namespace ebm
