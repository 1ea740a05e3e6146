#pragma once
/// \file
/// The convolutional Hopfield energy of the EP reference codes (Ernoult et al. 2019; Laborieux et
/// al. 2021, their P_CNN): convolutions with pooling inside the energy, then dense layers.

#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/activation.hpp"
#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/random.hpp"
#include "core/types.hpp"
#include "models/conv_ops.hpp"

namespace ebm {

/// One convolutional layer: output channels, kernel size, zero padding (stride 1), then pooling.
struct ConvLayerSpec {
  Index channels = 1, kernel = 3, padding = 0, pool = 1;
};

/// Convolutional Hopfield network: input x = s₀ (clamped, C₀ × H₀ × W₀), convolutional layers
/// s₁…s_M (each the pooled output of a convolution of the layer below), dense layers
/// s_{M+1}…s_L (the last is the output). With a = ρ(s) and a₀ := x,
/// \f[ E(s; x) = \tfrac12 \sum_{k=1}^{L} \lVert s_k \rVert^2 - \sum_{k=1}^{L} a_k \cdot m_k,
///     \qquad m_k = P_k(W_k \star a_{k-1}) + b_k \ (k \le M), \qquad m_k = W_k a_{k-1} + b_k \ (k > M), \f]
/// P_k max or average pooling (non-overlapping windows), ⋆ a stride-1 convolution with zero
/// padding and one bias per channel. This is P_CNN's primitive Φ = Σ s_{k+1} · P(conv(s_k)) with
/// the Hopfield terms of LayeredHopfield; the fixed-point update s_k ← ρ-clipped(m_k + back_k)
/// is their dynamics. Each W_k serves both directions (convolution upward, its transpose
/// downward), so the weights stay tied by construction.
///
/// Locally (away from max-pooling ties) m_k = L_k a_{k−1} + b_k with L_k linear, and everything
/// is as in LayeredHopfield with W_k replaced by L_k:
/// \f[ \partial E/\partial s_k = s_k - \rho'(s_k) \odot (m_k + L_{k+1}^\top a_{k+1}), \f]
/// \f[ \partial E/\partial W_k = -P_k^\top(a_k) \star a_{k-1} \ (\text{im2col: } -P^\top(a_k)\,\mathrm{col}(a_{k-1})^\top),
///     \qquad \partial E/\partial b_{k,c} = -\textstyle\sum_{\text{positions}} a_{k,c}. \f]
/// Max pooling's subgradient (conv_ops.hpp, pool()): the gradient goes to the window's argmax,
/// ties broken to the first index of the window's row-major scan. P is piecewise linear, so its
/// second derivatives are zero: Hessian and mixed products use L_k at the current argmax.
///
/// Layout: each example is one column; a convolutional layer's entries are channel-fastest,
/// (c, y, x) at c + C·(x + W·y) (the input's pixels are row-major, as in the IDX files, when
/// C₀ = 1). Parameters: W₁…W_L then b₁…b_L, named W1, b1, … ; a convolutional W_k is
/// C_out × (k·k·C_in) with column (ky·k + kx)·C_in + c_in.
template <std::floating_point T>
class ConvHopfield {
 public:
  using Scalar = T;
  /// What the driven evaluations of one system (one thread) keep: ρ(s), the argmax of every
  /// max-pooling layer, the im2col scratch; sized on first use.
  struct Workspace {
    Matrix<T> a, p;
    std::vector<std::vector<std::int32_t>> argmax;
    conv::ConvScratch<T> scratch;
  };

  /// `input` = {C₀, H₀, W₀}; `convs` the convolutional layers; `dense` the units of the dense
  /// layers after them (at least one: the output).
  ConvHopfield(std::vector<Index> input, std::vector<ConvLayerSpec> convs, std::vector<Index> dense,
               conv::PoolKind pooling = conv::PoolKind::max, Activation rho = Activation::Kind::hard_sigmoid)
      : pooling_(pooling), rho_(rho) {
    require<InvalidOptions>(input.size() == 3 && input[0] > 0 && input[1] > 0 && input[2] > 0,
                            "ConvHopfield: the input shape is {channels, height, width}, each ≥ 1");
    require<InvalidOptions>(!dense.empty(), "ConvHopfield needs at least one dense layer (the output)");
    Index c = input[0], h = input[1], w = input[2];
    input_size_ = c * h * w;
    for (std::size_t i = 0; i < convs.size(); ++i) {
      const ConvLayerSpec& sp = convs[i];
      conv::ConvGeometry g{c, h, w, sp.channels, sp.kernel, sp.padding, sp.pool};
      require<InvalidOptions>(sp.channels > 0 && sp.kernel > 0 && sp.padding >= 0 && sp.pool > 0,
                              "ConvHopfield: conv layer ", i + 1, " needs channels, kernel, pool ≥ 1 and padding ≥ 0");
      require<InvalidOptions>(g.hc() >= 1 && g.wc() >= 1 && g.hout() >= 1 && g.wout() >= 1, "ConvHopfield: conv layer ",
                              i + 1, " (kernel ", sp.kernel, ", padding ", sp.padding, ", pool ", sp.pool,
                              ") leaves no output from a ", h, "×", w, " input");
      geoms_.push_back(g);
      sizes_.push_back(g.out_size());
      c = g.cout, h = g.hout(), w = g.wout();
    }
    for (Index n : dense) {
      require<InvalidOptions>(n > 0, "ConvHopfield: every dense layer needs at least one unit");
      sizes_.push_back(n);
    }
    Index offset = 0;
    for (Index k = 1; k <= num_layers(); ++k) {
      const Index rows = is_conv(k) ? geom(k).cout : sizes_[std::size_t(k - 1)];
      const Index cols = is_conv(k) ? geom(k).patch() : fan_in(k);
      blocks_.push_back({name('W', k), offset, rows, cols});
      offset += rows * cols;
    }
    for (Index k = 1; k <= num_layers(); ++k) {
      const Index rows = is_conv(k) ? geom(k).cout : sizes_[std::size_t(k - 1)];
      blocks_.push_back({name('b', k), offset, rows, 1});
      offset += rows;
    }
    params_ = Vector<T>::Zero(offset);
    Index row = 0;
    for (Index n : sizes_) layers_.push_back({row, n}), row += n;
    state_size_ = row;
  }

  /// PyTorch's default (nn.Conv2d, nn.Linear): W_k, b_k ~ U(±gain_k/√fan_in), fan_in = k·k·C_in
  /// for a convolution; drawn W₁, b₁, W₂, … from Rng(seed, 1). `gains` empty: all 1.
  void init_fan_in_uniform(std::uint64_t seed, std::vector<T> gains = {}) {
    if (gains.empty()) gains.assign(std::size_t(num_layers()), T(1));
    require<InvalidOptions>(Index(gains.size()) == num_layers(), "ConvHopfield init needs one gain per layer (",
                            num_layers(), "), got ", gains.size());
    Rng rng(seed, 1);
    for (Index k = 1; k <= num_layers(); ++k) {
      const double limit = double(gains[std::size_t(k - 1)]) / std::sqrt(double(weight(k).cols()));
      auto w = weight(k);
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      auto b = bias(k);
      for (Index i = 0; i < b.size(); ++i) b[i] = T((2.0 * rng.uniform() - 1.0) * limit);
    }
  }

  Index num_layers() const { return Index(sizes_.size()); }
  Index num_conv() const { return Index(geoms_.size()); }
  bool is_conv(Index k) const { return k <= num_conv(); }
  const conv::ConvGeometry& geom(Index k) const { return geoms_[std::size_t(k - 1)]; }
  conv::PoolKind pooling() const { return pooling_; }
  const Activation& activation() const { return rho_; }

  Index state_size() const { return state_size_; }
  Index input_size() const { return input_size_; }
  Block output_block() const { return layers_.back(); }
  std::vector<Block> layer_blocks() const { return layers_; }

  Vector<T>& params() { return params_; }
  const Vector<T>& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  Eigen::Map<Matrix<T>> weight(Index k) { return map(k - 1); }
  Eigen::Map<const Matrix<T>> weight(Index k) const { return map(k - 1); }
  Eigen::Map<Vector<T>> bias(Index k) {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return {params_.data() + b.offset, b.rows};
  }
  Eigen::Map<const Vector<T>> bias(Index k) const {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return {params_.data() + b.offset, b.rows};
  }
  template <class S>
  auto layer(S&& s, Index k) const {
    return s.middleRows(layers_[std::size_t(k - 1)].offset, layers_[std::size_t(k - 1)].size);
  }

  // --- The fast path (HasInputDrive): m₁ = P(W₁ ⋆ x) + b₁ is constant during a relaxation.
  Index input_drive_rows() const { return sizes_.front(); }
  void input_drive(ConstRef<T> x, MutRef<T> drive) const {
    require<DimensionMismatch>(x.rows() == input_size_ && drive.rows() == sizes_.front() && drive.cols() == x.cols(),
                               "ConvHopfield input_drive: x is ", x.rows(), "×", x.cols(), ", the drive ", drive.rows(),
                               "×", drive.cols(), "; expected ", input_size_, " and ", sizes_.front(), " rows");
    conv::ConvScratch<T> scratch;
    layer_input(1, x.data(), x.outerStride(), x.cols(), drive.data(), drive.outerStride(), nullptr, false, true,
                scratch);
  }

  RowVector<T> energy_driven(ConstRef<T> s, ConstRef<T> drive, Workspace& ws) const {
    check_driven(s, drive);
    rates(s, ws);
    ws.p.resize(state_size_, s.cols());
    from_below(ws.a, drive, false, ws.p, ws);
    return T(0.5) * s.colwise().squaredNorm() - (ws.a.array() * ws.p.array()).matrix().colwise().sum();
  }
  void state_gradient_driven(ConstRef<T> s, ConstRef<T> drive, MutRef<T> g, Workspace& ws) const {
    check_driven(s, drive);
    require<DimensionMismatch>(g.rows() == s.rows() && g.cols() == s.cols(), "gradient output is ", g.rows(), "×",
                               g.cols(), " but the state is ", s.rows(), "×", s.cols());
    rates(s, ws);
    from_below(ws.a, drive, false, g, ws);
    add_from_above(ws.a, g, ws);
    rho_.chain_gradient(s, ws.a, g);
  }

  RowVector<T> energy(ConstRef<T> s, ConstRef<T> x) const {
    check_shapes(s, x);
    const Matrix<T> drive = make_drive(x);
    Workspace ws;
    return energy_driven(s, drive, ws);
  }
  void state_gradient(ConstRef<T> s, ConstRef<T> x, MutRef<T> g) const {
    check_shapes(s, x);
    const Matrix<T> drive = make_drive(x);
    Workspace ws;
    state_gradient_driven(s, drive, g, ws);
  }

  /// grad = Σ over the batch of ∂E/∂θ (see the class comment).
  void param_gradient(ConstRef<T> s, ConstRef<T> x, VectorRef<T> grad) const {
    check_shapes(s, x);
    check_grad(grad.size());
    Workspace ws;
    rates(s, ws);
    record_argmax(ws.a, x, ws);
    grad.setZero();
    for (Index k = 1; k <= num_layers(); ++k) {
      add_weight_outer(k, ws.a, ws.a, x, T(-1), grad, ws);
      add_bias_sum(k, ws.a, T(-1), grad);
    }
  }

  /// hv = (∂²E/∂s²) v per column:
  /// \f[ (Hv)_k = v_k - \rho''(s_k) \odot p_k \odot v_k - \rho'(s_k) \odot \big(L_k(\rho'(s_{k-1}) \odot v_{k-1})
  ///     + L_{k+1}^\top(\rho'(s_{k+1}) \odot v_{k+1})\big), \qquad p_k = m_k + L_{k+1}^\top a_{k+1}, \f]
  /// L_k the (locally linear) pooled convolution or dense product, at the current argmax.
  void hessian_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, MutRef<T> hv) const {
    check_shapes(s, x);
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols() && hv.rows() == s.rows() &&
                                   hv.cols() == s.cols(),
                               "hessian_vector: v and hv must have the shape of the state");
    Workspace ws;
    rates(s, ws);
    const Matrix<T> drive = make_drive(x);
    Matrix<T> p(state_size_, s.cols()), mix(state_size_, s.cols()), d(state_size_, s.cols()),
        d2(state_size_, s.cols());
    from_below(ws.a, drive, false, p, ws);  // records the argmax of layers 2…M
    add_from_above(ws.a, p, ws);
    rho_.d_rho(s, d);
    rho_.d2_rho(s, d2);
    const Matrix<T> dv = (d.array() * v.array()).matrix();
    from_below(dv, drive, true, mix, ws);
    add_from_above(dv, mix, ws);
    hv = v - (d2.array() * p.array() * v.array()).matrix() - (d.array() * mix.array()).matrix();
  }

  /// g = Σ over the batch of (∂²E/∂s∂θ)ᵀ v:
  /// \f[ (M^\top v)_{W_k} = -P^\top(\rho'(s_k) \odot v_k) \star a_{k-1} - P^\top(a_k) \star (\rho'(s_{k-1}) \odot v_{k-1}),
  ///     \qquad (M^\top v)_{b_k} = -\textstyle\sum_{\text{positions}} \rho'(s_k) \odot v_k. \f]
  void mixed_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, VectorRef<T> grad) const {
    check_shapes(s, x);
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols(),
                               "mixed_vector: v must have the shape of the state");
    check_grad(grad.size());
    Workspace ws;
    rates(s, ws);
    record_argmax(ws.a, x, ws);
    Matrix<T> d(state_size_, s.cols());
    rho_.d_rho(s, d);
    const Matrix<T> dv = (d.array() * v.array()).matrix();
    grad.setZero();
    for (Index k = 1; k <= num_layers(); ++k) {
      add_weight_outer(k, dv, ws.a, x, T(-1), grad, ws);
      if (k > 1) add_weight_outer(k, ws.a, dv, x, T(-1), grad, ws);
      add_bias_sum(k, dv, T(-1), grad);
    }
  }

  /// The box [lo, hi] project() clips every state to, when it does: lets a solver fuse its own
  /// step with the projection (fixed_point with momentum).
  bool clip_range(double& lo, double& hi) const { return rho_.clip_range(lo, hi); }
  bool projects() const {
    double lo = 0, hi = 0;
    return clip_range(lo, hi);
  }
  void project(MutRef<T> s) const {
    double lo = 0, hi = 0;
    if (rho_.clip_range(lo, hi)) s = s.array().max(T(lo)).min(T(hi)).matrix();
  }

  /// Multiply–adds of one state-gradient evaluation per example (the drive excluded): for the
  /// benchmark's FLOP count.
  double gradient_macs() const {
    double macs = 0;
    for (Index k = 1; k <= num_layers(); ++k) {
      const double per = is_conv(k) ? double(geom(k).cout * geom(k).patch() * geom(k).positions())
                                    : double(sizes_[std::size_t(k - 1)] * fan_in(k));
      macs += k == 1 ? per : 2 * per;  // upward (not for layer 1: its drive is cached) and downward
    }
    return macs;
  }

 private:
  static std::string name(char prefix, Index k) {
    std::string n(1, prefix);
    n.append(std::to_string(k));
    return n;
  }
  Index fan_in(Index k) const { return k == 1 ? input_size_ : sizes_[std::size_t(k - 2)]; }
  Eigen::Map<Matrix<T>> map(Index i) {
    const ParamBlock& b = blocks_[std::size_t(i)];
    return {params_.data() + b.offset, b.rows, b.cols};
  }
  Eigen::Map<const Matrix<T>> map(Index i) const {
    const ParamBlock& b = blocks_[std::size_t(i)];
    return {params_.data() + b.offset, b.rows, b.cols};
  }
  std::int32_t* argmax_of(Index k, Index batch, Workspace& ws) const {
    if (!is_conv(k) || pooling_ != conv::PoolKind::max) return nullptr;
    ws.argmax.resize(geoms_.size());
    auto& a = ws.argmax[std::size_t(k - 1)];
    a.resize(std::size_t(geom(k).out_size() * batch));
    return a.data();
  }

  /// out = L_k(in) (+ b_k with `bias`) for n examples: the pooled convolution or dense product
  /// of the layer below; `argmax` recorded, or reused with `use_argmax`.
  void layer_input(Index k, const T* in, Index in_stride, Index n, T* out, Index out_stride, std::int32_t* argmax,
                   bool use_argmax, bool with_bias, conv::ConvScratch<T>& scratch) const {
    if (is_conv(k)) {
      const conv::ConvGeometry& g = geom(k);
      conv::conv_forward(g, pooling_, weight(k), in, in_stride, n, out, out_stride, argmax, use_argmax, scratch);
      if (with_bias) {
        const auto b = bias(k);
        for (Index j = 0; j < n; ++j) {
          Eigen::Map<Matrix<T>> o(out + j * out_stride, g.cout, g.hout() * g.wout());
          o.colwise() += b;
        }
      }
    } else {
      Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>> a(in, fan_in(k), n, Eigen::OuterStride<>(in_stride));
      Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>> o(out, sizes_[std::size_t(k - 1)], n,
                                                       Eigen::OuterStride<>(out_stride));
      o.noalias() = weight(k) * a;
      if (with_bias) o.colwise() += bias(k);
    }
  }

  Matrix<T> make_drive(ConstRef<T> x) const {
    Matrix<T> drive(sizes_.front(), x.cols());
    input_drive(x, drive);
    return drive;
  }
  void rates(ConstRef<T> s, Workspace& ws) const {
    ws.a.resize(s.rows(), s.cols());
    rho_.rho(s, ws.a);
  }

  /// p_k = m_k for every layer: the drive for layer 1, L_k a_{k−1} + b_k above (`linear`: no
  /// drive, no bias, the recorded argmax; the product L v of the Hessian).
  void from_below(ConstRef<T> a, ConstRef<T> drive, bool linear, MutRef<T> p, Workspace& ws) const {
    const Index n = a.cols();
    if (linear) layer(p, 1).setZero();
    else layer(p, 1) = drive;
    for (Index k = 2; k <= num_layers(); ++k)
      layer_input(k, a.data() + layers_[std::size_t(k - 2)].offset, a.outerStride(), n,
                  p.data() + layers_[std::size_t(k - 1)].offset, p.outerStride(), argmax_of(k, n, ws), linear, !linear,
                  ws.scratch);
  }
  /// p_k += L_{k+1}ᵀ a_{k+1} for k < L, at the recorded argmax.
  void add_from_above(ConstRef<T> a, MutRef<T> p, Workspace& ws) const {
    const Index n = a.cols();
    for (Index k = 1; k < num_layers(); ++k) {
      if (is_conv(k + 1)) {
        const std::int32_t* am =
            pooling_ == conv::PoolKind::max ? ws.argmax[std::size_t(k)].data() : nullptr;
        conv::conv_transpose_add(geom(k + 1), pooling_, weight(k + 1), a.data() + layers_[std::size_t(k)].offset,
                                 a.outerStride(), n, am, p.data() + layers_[std::size_t(k - 1)].offset,
                                 p.outerStride(), ws.scratch);
      } else {
        layer(p, k).noalias() += weight(k + 1).transpose() * layer(a, k + 1);
      }
    }
  }
  /// The argmax of every max-pooling layer at a = ρ(s) (layer 1 from x).
  void record_argmax(ConstRef<T> a, ConstRef<T> x, Workspace& ws) const {
    if (pooling_ != conv::PoolKind::max) return;
    Matrix<T> out;
    for (Index k = 1; k <= num_conv(); ++k) {
      out.resize(sizes_[std::size_t(k - 1)], a.cols());
      if (k == 1)
        layer_input(1, x.data(), x.outerStride(), x.cols(), out.data(), out.rows(), argmax_of(1, x.cols(), ws), false,
                    false, ws.scratch);
      else
        layer_input(k, a.data() + layers_[std::size_t(k - 2)].offset, a.outerStride(), a.cols(), out.data(),
                    out.rows(), argmax_of(k, a.cols(), ws), false, false, ws.scratch);
    }
  }
  /// grad_{W_k} += scale · Σ_batch L_kᵀ-outer(up_k, low_{k−1}): P^T(up_k) col(low_{k−1})ᵀ for a
  /// convolution, up_k low_{k−1}ᵀ for a dense layer; low₀ = x.
  void add_weight_outer(Index k, ConstRef<T> up, ConstRef<T> low, ConstRef<T> x, T scale, VectorRef<T> grad,
                        Workspace& ws) const {
    const ParamBlock& wb = blocks_[std::size_t(k - 1)];
    Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
    const T* in = k == 1 ? x.data() : low.data() + layers_[std::size_t(k - 2)].offset;
    const Index in_stride = k == 1 ? x.outerStride() : low.outerStride();
    if (is_conv(k)) {
      const std::int32_t* am = pooling_ == conv::PoolKind::max ? ws.argmax[std::size_t(k - 1)].data() : nullptr;
      conv::conv_weight_outer_add(geom(k), pooling_, up.data() + layers_[std::size_t(k - 1)].offset, up.outerStride(),
                                  in, in_stride, up.cols(), am, scale, gw, ws.scratch);
    } else {
      Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>> a(in, fan_in(k), up.cols(), Eigen::OuterStride<>(in_stride));
      gw.noalias() += scale * (layer(up, k) * a.transpose());
    }
  }
  /// grad_{b_k} += scale · Σ over the batch (and a channel's positions) of up_k.
  void add_bias_sum(Index k, ConstRef<T> up, T scale, VectorRef<T> grad) const {
    const ParamBlock& bb = blocks_[std::size_t(num_layers() + k - 1)];
    auto gb = grad.segment(bb.offset, bb.rows);
    if (!is_conv(k)) {
      gb += scale * layer(up, k).rowwise().sum();
      return;
    }
    const conv::ConvGeometry& g = geom(k);
    for (Index j = 0; j < up.cols(); ++j) {
      Eigen::Map<const Matrix<T>> u(up.data() + j * up.outerStride() + layers_[std::size_t(k - 1)].offset, g.cout,
                                    g.hout() * g.wout());
      gb += scale * u.rowwise().sum();
    }
  }

  void check_shapes(const ConstRef<T>& s, const ConstRef<T>& x) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ", lazy_describe(),
                               " has ", state_size_, " free units");
    require<DimensionMismatch>(x.rows() == input_size_, "clamped input has ", x.rows(), " rows but the network ",
                               lazy_describe(), " has ", input_size_, " input units");
    require<DimensionMismatch>(x.cols() == s.cols(), "clamped input has ", x.cols(), " columns but the state has ",
                               s.cols());
  }
  void check_driven(const ConstRef<T>& s, const ConstRef<T>& drive) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ", lazy_describe(),
                               " has ", state_size_, " free units");
    require<DimensionMismatch>(drive.rows() == sizes_.front() && drive.cols() == s.cols(), "input drive is ",
                               drive.rows(), "×", drive.cols(), " but the first layer of ", lazy_describe(), " has ",
                               sizes_.front(), " units and the state ", s.cols(), " columns");
  }
  void check_grad(Index n) const {
    require<DimensionMismatch>(n == params_.size(), "parameter gradient has ", n, " entries but the model has ",
                               params_.size(), " parameters");
  }
  /// describe() for a require() message, formatted only if it throws (see ebm::lazy).
  auto lazy_describe() const {
    return lazy([this] { return describe(); });
  }
  std::string describe() const {
    std::ostringstream o;
    o << input_size_;
    for (std::size_t k = 0; k < sizes_.size(); ++k)
      if (k < geoms_.size()) o << "-conv(" << geoms_[k].cout << "x" << geoms_[k].hout() << "x" << geoms_[k].wout() << ")";
      else o << "-" << sizes_[k];
    return o.str();
  }

  conv::PoolKind pooling_;
  Activation rho_;
  std::vector<conv::ConvGeometry> geoms_;
  std::vector<Index> sizes_;  ///< units of layers 1…L
  std::vector<ParamBlock> blocks_;
  std::vector<Block> layers_;
  Index input_size_ = 0, state_size_ = 0;
  Vector<T> params_;
};

template <>
struct EnumNames<conv::PoolKind> {
  static constexpr std::array<std::pair<conv::PoolKind, std::string_view>, 2> values{
      {{conv::PoolKind::max, "max"}, {conv::PoolKind::average, "average"}}};
};

/// What a ConvHopfield is built from (the config's [model] table for kind conv_hopfield).
struct ConvHopfieldOptions {
  std::vector<Index> input_shape = {1, 28, 28};  ///< channels, height, width
  std::vector<Index> channels = {16, 32};        ///< per conv layer
  std::vector<Index> kernels = {5, 5};
  std::vector<Index> paddings = {2, 2};
  std::vector<Index> pools = {2, 2};
  conv::PoolKind pooling = conv::PoolKind::max;
  std::vector<Index> dense = {10};  ///< units of the dense layers after the convolutions; the last is the output
  Activation activation = Activation::Kind::hard_sigmoid;
  std::uint64_t init_seed = 1;
  double init_gain = 1.0;
  std::vector<double> init_gains;  ///< one per layer; empty: init_gain everywhere

  static constexpr auto fields() {
    using O = ConvHopfieldOptions;
    return std::tuple{
        field("input_shape", &O::input_shape, "channels, height, width of the input (pixels row-major)",
              checks::Every<checks::Positive>{}),
        field("channels", &O::channels, "output channels of each convolutional layer", checks::Every<checks::Positive>{}),
        field("kernels", &O::kernels, "kernel size (k x k) of each convolutional layer",
              checks::Every<checks::Positive>{}),
        field("paddings", &O::paddings, "zero padding of each convolutional layer (stride 1)",
              checks::Every<checks::NonNegative>{}),
        field("pools", &O::pools, "pooling window of each convolutional layer (1: none)",
              checks::Every<checks::Positive>{}),
        field("pooling", &O::pooling, "max (gradient to the first argmax) or average"),
        field("dense", &O::dense, "units of the dense layers after the convolutions; the last = the number of classes",
              checks::Every<checks::Positive>{}),
        field("activation", &O::activation, "rho: hard_sigmoid, logistic or tanh"),
        field("init_seed", &O::init_seed, "seed of the initial weights"),
        field("init_gain", &O::init_gain, "gain of every layer's initial weights (U(+-gain/sqrt(fan_in)))", positive),
        field("init_gains", &O::init_gains, "one gain per layer (empty: init_gain)", checks::Every<checks::Positive>{}),
    };
  }

  bool is_valid(std::string* why, std::string_view prefix = "model.") const {
    if (!check_fields(*this, prefix, why)) return false;
    auto fail = [&](const std::string& w) {
      if (why) *why = std::string(prefix) + w;
      return false;
    };
    if (input_shape.size() != 3) return fail("input_shape needs 3 entries (channels, height, width)");
    for (auto [list, n] : {std::pair{&kernels, "kernels"}, std::pair{&paddings, "paddings"}, std::pair{&pools, "pools"}})
      if (list->size() != channels.size())
        return fail(std::string(n) + " needs one entry per convolutional layer (" + std::to_string(channels.size()) +
                    "), got " + std::to_string(list->size()));
    if (dense.empty()) return fail("dense needs at least the output layer");
    if (!init_gains.empty() && init_gains.size() != channels.size() + dense.size())
      return fail("init_gains needs one gain per layer (" + std::to_string(channels.size() + dense.size()) + "), got " +
                  std::to_string(init_gains.size()));
    Index h = input_shape[1], w = input_shape[2];
    for (std::size_t i = 0; i < channels.size(); ++i) {
      h = (h + 2 * paddings[i] - kernels[i] + 1) / pools[i];
      w = (w + 2 * paddings[i] - kernels[i] + 1) / pools[i];
      if (h < 1 || w < 1) return fail("conv layer " + std::to_string(i + 1) + " leaves no output (kernel, padding, pool)");
    }
    return true;
  }

  std::vector<ConvLayerSpec> conv_layers() const {
    std::vector<ConvLayerSpec> out;
    for (std::size_t i = 0; i < channels.size(); ++i) out.push_back({channels[i], kernels[i], paddings[i], pools[i]});
    return out;
  }
};

/// The registry's description of ConvHopfield (cli/registry.hpp).
struct ConvHopfieldKind {
  static constexpr std::string_view name = "conv_hopfield";
  static constexpr std::string_view doc =
      "convolutional Hopfield network, E = ½Σ|s_k|² − Σρ(s_k)·(P(W_k ⋆ ρ(s_{k−1})) + b_k) − dense terms, max or "
      "average pooling inside the energy (Ernoult et al. 2019; Laborieux et al. 2021 P_CNN)";
  using Options = ConvHopfieldOptions;
  template <class T>
  using Model = ConvHopfield<T>;

  static bool clips_states(const Options& o) { return o.activation.kind() == Activation::Kind::hard_sigmoid; }

  template <class T>
  static ConvHopfield<T> make(const Options& o) {
    ConvHopfield<T> net(o.input_shape, o.conv_layers(), o.dense, o.pooling, o.activation);
    std::vector<T> gains(std::size_t(net.num_layers()), T(o.init_gain));
    if (!o.init_gains.empty()) gains.assign(o.init_gains.begin(), o.init_gains.end());
    net.init_fan_in_uniform(o.init_seed, gains);
    return net;
  }
};

}  // namespace ebm
