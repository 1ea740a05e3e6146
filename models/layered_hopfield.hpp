#pragma once
/// \file
/// The layered Hopfield energy of Scellier & Bengio (2017).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <random>
#include <sstream>
#include <vector>

#include "core/activation.hpp"
#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/fused_sweep.hpp"
#include "core/magnitude_scan.hpp"
#include "core/random.hpp"
#include "core/small_products.hpp"
#include "core/unpacked_product.hpp"

namespace ebm {

/// Layered Hopfield network: input x = s₀ (clamped), hidden layers s₁…s_{L−1}, output s_L,
/// symmetric weights between consecutive layers only (Scellier & Bengio 2017, eq. 1):
/// \f[ E(s; x) = \tfrac12 \sum_{k=1}^{L} \lVert s_k \rVert^2
///      - \sum_{k=1}^{L} \rho(s_k)^\top W_k\, \rho(s_{k-1}) - \sum_{k=1}^{L} b_k^\top \rho(s_k),
///     \qquad \rho(s_0) := x. \f]
/// The clamped input enters as a rate: ρ is not applied to x (pixels are already in [0, 1]),
/// which also makes W₁x constant during a relaxation.
///
/// \f[ -\partial E/\partial s_k = \rho'(s_k) \odot (W_k \rho(s_{k-1}) + W_{k+1}^\top \rho(s_{k+1}) + b_k) - s_k \f]
/// \f[ \partial E/\partial W_k = -\rho(s_k)\rho(s_{k-1})^\top, \qquad \partial E/\partial b_k = -\rho(s_k). \f]
///
/// The state stacks s₁…s_L as rows (units × batch). Parameters live in one flat vector:
/// W₁…W_L (each n_k × n_{k−1}, column-major), then b₁…b_L. Each W_k serves both directions,
/// so the weights stay tied by construction.
template <std::floating_point T>
class LayeredHopfield {
 public:
  using Scalar = T;
  /// What the driven evaluations of one system (one thread) keep: scratch space sized on first
  /// use, and, made by prepare() when the system is built, Wᵀ of each narrow layer for the
  /// small-product kernels (core/small_products.hpp).
  struct Workspace {
    Matrix<T> r;
    Matrix<T> product;          ///< scratch: W_k ρ(s_{k−1}) of one layer (energy_driven)
    std::vector<Matrix<T>> wt;  ///< wt[k] = W_kᵀ for a narrow layer k ≥ 2, empty otherwise
    bool prepared = false;
  };
  /// A layer this narrow (output units of a classifier) takes the small-product kernels.
  static constexpr Index kNarrow = 16;

  /// `sizes` = {n₀ (input), n₁, …, n_L (output)}; at least an input and an output layer.
  explicit LayeredHopfield(std::vector<Index> sizes, Activation rho = Activation::Kind::hard_sigmoid)
      : sizes_(std::move(sizes)), rho_(rho) {
    require<InvalidOptions>(sizes_.size() >= 2, "LayeredHopfield needs at least an input and an output layer, got ",
                            sizes_.size(), " layer size(s)");
    for (std::size_t k = 0; k < sizes_.size(); ++k)
      require<InvalidOptions>(sizes_[k] > 0, "LayeredHopfield layer ", k, " has size ", sizes_[k],
                              "; every layer needs at least one unit");
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
    for (std::size_t k = 1; k < sizes_.size(); ++k) {
      const Index rows = sizes_[k], cols = sizes_[k - 1];
      const Index per_tile = std::max<Index>(1, kTileEntries / rows);
      for (Index c = 0; c < cols; c += per_tile) {
        const Index n = std::min(per_tile, cols - c);
        tiles_.push_back({blocks_[k - 1].offset + c * rows, n * rows, Index(k), c, n});
      }
    }
    // The biases b₁…b_L follow each other: one tile (b_k's rows of the state are layer k's).
    tiles_.push_back({blocks_[sizes_.size() - 1].offset, state_size_, 0, 0, 0});
  }

  /// Glorot-uniform weights (scaled by `gain`), zero biases; reproducible from `seed`.
  void init_glorot(std::uint64_t seed, T gain = T(1)) { init_glorot(seed, std::vector<T>(std::size_t(num_layers()), gain)); }

  /// Glorot-uniform weights, W_k ~ U(±gains[k−1]·√(6 / (n_k + n_{k−1}))), zero biases; one gain
  /// per layer k = 1…L. The draws are W₁, W₂, … in storage order from Rng(seed, 0), so a gain
  /// changes the scale of a layer, never its pattern.
  void init_glorot(std::uint64_t seed, const std::vector<T>& gains) {
    check_gains(gains, "init_glorot");
    Rng rng(seed, 0);
    for (Index k = 1; k < num_layers() + 1; ++k) {
      auto w = weight(k);
      const double limit = double(gains[std::size_t(k - 1)]) * std::sqrt(6.0 / double(w.rows() + w.cols()));
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      bias(k).setZero();
    }
  }

  /// Fan-in uniform weights AND biases, W_k, b_k ~ U(±gains[k−1]/√n_{k−1}): what PyTorch's
  /// nn.Linear(n_{k−1}, n_k) draws, so what the EP reference codes (Scellier & Bengio 2017;
  /// Laborieux et al. 2021) start from. Compared with Glorot it is smaller for a wide input
  /// (784-512: 0.036 against 0.068) and it gives the biases a spread, which breaks the symmetry of
  /// the ten output units from the start. One gain per layer k = 1…L (empty: all 1). The draws are
  /// W₁, b₁, W₂, b₂, … in storage order from Rng(seed, 1), reproducible from `seed`.
  void init_fan_in_uniform(std::uint64_t seed, std::vector<T> gains = {}) {
    if (gains.empty()) gains.assign(std::size_t(num_layers()), T(1));
    check_gains(gains, "init_fan_in_uniform");
    Rng rng(seed, 1);
    for (Index k = 1; k < num_layers() + 1; ++k) {
      const double limit = double(gains[std::size_t(k - 1)]) / std::sqrt(double(sizes_[std::size_t(k - 1)]));
      auto w = weight(k);
      for (Index i = 0; i < w.size(); ++i) w.data()[i] = T((2.0 * rng.uniform() - 1.0) * limit);
      auto b = bias(k);
      for (Index i = 0; i < b.size(); ++i) b[i] = T((2.0 * rng.uniform() - 1.0) * limit);
    }
  }

  /// Number of free layers L (hidden layers plus the output).
  Index num_layers() const { return Index(sizes_.size()) - 1; }
  const std::vector<Index>& sizes() const { return sizes_; }
  const Activation& activation() const { return rho_; }

  Index state_size() const { return state_size_; }
  Index input_size() const { return sizes_.front(); }
  Block output_block() const { return layers_.back(); }
  std::vector<Block> layer_blocks() const { return layers_; }

  Vector<T>& params() { return params_; }
  const Vector<T>& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  /// W_k, n_k × n_{k−1}, for k = 1…L.
  Eigen::Map<Matrix<T>> weight(Index k) { return map_block(k - 1); }
  Eigen::Map<const Matrix<T>> weight(Index k) const { return map_block(k - 1); }
  /// b_k, n_k, for k = 1…L.
  Eigen::Map<Vector<T>> bias(Index k) {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return Eigen::Map<Vector<T>>(params_.data() + b.offset, b.rows);
  }
  Eigen::Map<const Vector<T>> bias(Index k) const {
    const ParamBlock& b = blocks_[std::size_t(num_layers() + k - 1)];
    return Eigen::Map<const Vector<T>>(params_.data() + b.offset, b.rows);
  }

  /// Rows of layer k (1…L) in the state.
  template <class S> auto layer(S&& s, Index k) const {
    return s.middleRows(layers_[std::size_t(k - 1)].offset, layers_[std::size_t(k - 1)].size);
  }

  RowVector<T> energy(ConstRef<T> s, ConstRef<T> x) const {
    check_shapes(s, x);
    Workspace ws;
    Matrix<T> drive(sizes_[1], x.cols());
    input_drive(x, drive);
    return energy_driven(s, drive, ws);
  }

  /// E per example from a precomputed drive = W₁x + b₁ (see HasInputDrive).
  RowVector<T> energy_driven(ConstRef<T> s, ConstRef<T> drive, Workspace& ws) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ", lazy_describe(),
                               " has ", state_size_, " free units");
    require<DimensionMismatch>(drive.rows() == sizes_[1] && drive.cols() == s.cols(), "input drive is ",
                               drive.rows(), "×", drive.cols(), " but the state is ", s.rows(), "×", s.cols());
    ws.r.resize(state_size_, s.cols());
    rho_.rho(s, ws.r);
    RowVector<T> e = T(0.5) * s.colwise().squaredNorm();
    for (Index k = 1; k <= num_layers(); ++k) {
      const auto rk = layer(ws.r, k);
      if (k == 1) {
        e.noalias() -= (rk.array() * drive.array()).matrix().colwise().sum();  // b₁ is in the drive
      } else {
        // W_k ρ(s_{k−1}) by the small-product kernel where the layer is narrow (a relaxation's final
        // energy: Eigen's GEMM, packing W_k for 10 rows, took as long as two fixed-point steps).
        if (ws.prepared && ws.wt[std::size_t(k)].size() > 0) {
          ws.product.resize(rk.rows(), rk.cols());
          small_outer_product(ws.wt[std::size_t(k)], layer(ws.r, k - 1), ws.product);
        } else {
          ws.product.noalias() = weight(k) * layer(ws.r, k - 1);
        }
        e.noalias() -= (rk.array() * ws.product.array()).matrix().colwise().sum();
        e.noalias() -= bias(k).transpose() * rk;
      }
    }
    return e;
  }

  void state_gradient(ConstRef<T> s, ConstRef<T> x, MutRef<T> g) const {
    check_shapes(s, x);
    Workspace ws;
    prepare(ws);
    Matrix<T> drive(sizes_[1], x.cols());
    input_drive(x, drive);
    state_gradient_driven(s, drive, g, ws);
  }

  /// Rows of the input drive: the first hidden layer's n₁.
  Index input_drive_rows() const { return sizes_[1]; }
  /// drive = W₁x + b₁, the clamped input's constant contribution to layer 1 (see HasInputDrive).
  void input_drive(ConstRef<T> x, MutRef<T> drive) const { input_drive_part(x, 0, sizes_[1], drive); }
  /// Rows [first, first + rows) of the drive (see HasPartialInputDrive): the one stage over all
  /// the input units, W₁ read in place (core/unpacked_product.hpp), so each entry has the same bits
  /// whatever rows a tile holds.
  void input_drive_part(ConstRef<T> x, Index first, Index rows, MutRef<T> out) const {
    input_drive_stage(x, first, rows, 0, input_size(), out);
  }
  /// Rows [first, first + rows) of the drive over the input units [k_first, k_first + k_count)
  /// (see HasPipelinedInputDrive): out's sums continued over those units' columns of W₁, from
  /// zero when k_first = 0, and the bias added once the last unit is in. Stages over consecutive
  /// ranges give input_drive_part's bits: each entry is the one chain of multiply-adds.
  void input_drive_stage(ConstRef<T> x, Index first, Index rows, Index k_first, Index k_count, MutRef<T> out) const {
    require<DimensionMismatch>(x.rows() == input_size(), "clamped input has ", x.rows(), " rows but the network ",
                               lazy_describe(), " has ", input_size(), " input units");
    require<DimensionMismatch>(first >= 0 && rows >= 0 && first + rows <= sizes_[1] && k_first >= 0 && k_count >= 0 &&
                                   k_first + k_count <= input_size() && out.rows() == rows && out.cols() == x.cols(),
                               "input drive: rows [", first, ", ", first + rows, ") of ", sizes_[1],
                               " over input units [", k_first, ", ", k_first + k_count, ") of ", input_size(),
                               " into a ", out.rows(), "×", out.cols(), " output");
    const auto w = weight(1);
    const T* a = w.data() + first + k_first * w.rows();
    const T* b = x.data() + k_first;
    if (k_first == 0)
      unpacked_product(rows, x.cols(), k_count, a, w.rows(), b, Index(1), x.outerStride(), T(1), out.data(),
                       out.outerStride());
    else
      unpacked_product_continue(rows, x.cols(), k_count, a, w.rows(), b, Index(1), x.outerStride(), T(1), out.data(),
                                out.outerStride());
    if (k_first + k_count == input_size()) out.colwise() += bias(1).segment(first, rows);
  }
  /// Readies a workspace for driven evaluations with the current parameters: Wᵀ of the narrow
  /// layers. A system calls it when it is built; without it the evaluations use Eigen's products.
  void prepare(Workspace& ws) const {
    ws.wt.assign(std::size_t(num_layers() + 1), Matrix<T>());
    for (Index k = 2; k <= num_layers(); ++k)
      if (sizes_[std::size_t(k)] <= kNarrow) ws.wt[std::size_t(k)] = weight(k).transpose();
    ws.prepared = true;
  }
  /// ∂E/∂s from a precomputed drive = W₁x + b₁, without allocating once `ws` has its size:
  /// the pre-activations p_k = W_kρ(s_{k−1}) + W_{k+1}ᵀρ(s_{k+1}) + b_k go straight into g,
  /// then one pass makes g = s − ρ′(s) ⊙ p (ρ′ from ρ(s), not recomputed).
  void state_gradient_driven(ConstRef<T> s, ConstRef<T> drive, MutRef<T> g, Workspace& ws) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ", lazy_describe(),
                               " has ", state_size_, " free units");
    require<DimensionMismatch>(drive.rows() == sizes_[1], "input drive has ", drive.rows(),
                               " rows but the first layer of ", lazy_describe(), " has ", sizes_[1], " units");
    require<DimensionMismatch>(drive.cols() == s.cols(), "clamped input has ", drive.cols(),
                               " columns but the state has ", s.cols());
    require<DimensionMismatch>(g.rows() == s.rows() && g.cols() == s.cols(), "gradient output is ", g.rows(), "×",
                               g.cols(), " but the state is ", s.rows(), "×", s.cols());
    const Index L = num_layers();
    ws.r.resize(state_size_, s.cols());
    rho_.rho(s, ws.r);
    auto narrow = [&](Index k) { return ws.prepared && ws.wt[std::size_t(k)].size() > 0; };
    for (Index k = 1; k <= L; ++k) {
      auto gk = layer(g, k);
      // From below: the drive (k = 1) or W_k ρ(s_{k−1}) + b_k.
      if (k > 1) {
        if (narrow(k))
          small_outer_product(ws.wt[std::size_t(k)], layer(ws.r, k - 1), gk);
        else
          gk.noalias() = weight(k) * layer(ws.r, k - 1);
        gk.colwise() += bias(k);
      }
      // From above: W_{k+1}ᵀ ρ(s_{k+1}).
      if (k < L && narrow(k + 1)) {
        if (k == 1)
          small_inner_product(ws.wt[std::size_t(k + 1)], layer(ws.r, k + 1), drive, true, gk);
        else
          small_inner_product(ws.wt[std::size_t(k + 1)], layer(ws.r, k + 1), gk, true, gk);
      } else {
        if (k == 1) gk = drive;
        if (k < L) gk.noalias() += weight(k + 1).transpose() * layer(ws.r, k + 1);
      }
    }
    rho_.chain_gradient(s, ws.r, g);
  }

  /// One synchronous projected fixed-point step in one pass (core/fused_sweep.hpp): s ← P(s − dt·g),
  /// then g ← ∂E/∂s at the new s from the drive; bit for bit what project() and
  /// state_gradient_driven compute one after the other. For a hard-sigmoid network with one hidden
  /// layer under a narrow output, with a prepared workspace; refused, touching nothing, for any
  /// other network, which then takes the step-by-step path. `bound` is the divergence bound the
  /// new states are checked against (see FusedStep).
  FusedStep projected_step_driven(MutRef<T> s, MutRef<T> g, ConstRef<T> drive, T dt, double bound,
                                  Workspace& ws) const {
    double lo = 0, hi = 0;
    if (num_layers() != 2 || !ws.prepared || ws.wt[2].size() == 0 || !rho_.clip_range(lo, hi))
      return FusedStep::refused;
    require<DimensionMismatch>(s.rows() == state_size_ && g.rows() == s.rows() && g.cols() == s.cols() &&
                                   drive.rows() == sizes_[1] && drive.cols() == s.cols(),
                               "projected step: state ", s.rows(), "×", s.cols(), ", gradient ", g.rows(), "×",
                               g.cols(), " and drive ", drive.rows(), "×", drive.cols(), " do not fit the network ",
                               lazy_describe());
    const FusedSweep<T> sweep{s.data(), s.outerStride(), g.data(), g.outerStride(), drive.data(),
                              drive.outerStride(), ws.wt[2].data(), bias(2).data(), sizes_[1], sizes_[2],
                              s.cols(), dt, T(lo), T(hi)};
    const FusedStep done = fused_sweep(sweep);
    // States end in [lo, hi]; a bound inside that box is the solver's to check.
    if (done == FusedStep::stepped_checked && std::max(std::abs(lo), std::abs(hi)) > bound) return FusedStep::stepped;
    return done;
  }

  void param_gradient(ConstRef<T> s, ConstRef<T> x, VectorRef<T> grad) const {
    check_shapes(s, x);
    require<DimensionMismatch>(grad.size() == params_.size(), "parameter gradient has ", grad.size(),
                               " entries but the model has ", params_.size(), " parameters");
    Matrix<T> r(state_size_, s.cols());
    rho_.rho(s, r);
    for (Index k = 1; k <= num_layers(); ++k) {
      const ParamBlock& wb = blocks_[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      if (k == 1)
        gw.noalias() = -layer(r, 1) * x.transpose();
      else
        gw.noalias() = -layer(r, k) * layer(r, k - 1).transpose();
      const ParamBlock& bb = blocks_[std::size_t(num_layers() + k - 1)];
      grad.segment(bb.offset, bb.rows) = -layer(r, k).rowwise().sum();
    }
  }

  /// grad = Σ over the batch of ∂E/∂θ(s_a) − ∂E/∂θ(s_b): the Hebbian difference EP and CHL need,
  /// with one product for W₁, −(ρ(s₁ᵃ) − ρ(s₁ᵇ))xᵀ, instead of two (x is the same in both phases).
  /// Computed tile by tile (see param_tile), exactly as a trainer computes it in parallel.
  void param_gradient_difference(ConstRef<T> s_a, ConstRef<T> s_b, ConstRef<T> x, VectorRef<T> grad) const {
    require<DimensionMismatch>(grad.size() == params_.size(), "parameter gradient has ", grad.size(),
                               " entries but the model has ", params_.size(), " parameters");
    HebbianRates rates;
    hebbian_rates(s_a, s_b, x, rates);
    for (Index i = 0; i < param_tile_count(); ++i)
      param_gradient_difference_tile(rates, x, i, grad.data() + param_tile(i).offset);
  }

  /// What every tile of the Hebbian difference reads: ρ(s_a), ρ(s_b) and ρ(s₁ᵃ) − ρ(s₁ᵇ).
  struct HebbianRates {
    Matrix<T> a, b, delta1;
  };
  /// Fills `rates` for the batch (s_a, s_b, x); reuses its storage.
  void hebbian_rates(ConstRef<T> s_a, ConstRef<T> s_b, ConstRef<T> x, HebbianRates& rates) const {
    check_shapes(s_a, x);
    check_shapes(s_b, x);
    resize_hebbian_rates(s_a.cols(), rates);
    hebbian_rates_part(s_a, s_b, 0, rates);
  }
  /// Sizes `rates` for a batch of `cols` examples (a no-op when it has that size already), for
  /// hebbian_rates_part to fill column by column.
  void resize_hebbian_rates(Index cols, HebbianRates& rates) const {
    rates.a.resize(state_size_, cols);
    rates.b.resize(state_size_, cols);
    rates.delta1.resize(sizes_[1], cols);
  }
  /// Columns [first, first + s_a.cols()) of the rates, from those columns' states: a trainer fills
  /// them chunk by chunk, in parallel, as each chunk's relaxations end (HasPartialHebbianRates).
  /// Elementwise, so the same bits as hebbian_rates of the whole batch.
  void hebbian_rates_part(ConstRef<T> s_a, ConstRef<T> s_b, Index first, HebbianRates& rates) const {
    const Index n = s_a.cols();
    require<DimensionMismatch>(s_a.rows() == state_size_ && s_b.rows() == state_size_ && s_b.cols() == n &&
                                   first >= 0 && first + n <= rates.a.cols() && rates.b.cols() == rates.a.cols() &&
                                   rates.delta1.cols() == rates.a.cols(),
                               "hebbian_rates_part: states ", s_a.rows(), "×", n, " and ", s_b.rows(), "×", s_b.cols(),
                               " at column ", first, " do not fit rates of ", rates.a.cols(), " columns of ",
                               lazy_describe());
    auto a = rates.a.middleCols(first, n);
    auto b = rates.b.middleCols(first, n);
    rho_.rho(s_a, a);
    rho_.rho(s_b, b);
    rates.delta1.middleCols(first, n) = layer(a, 1) - layer(b, 1);
  }
  /// The parameters cut into tiles, contiguous ranges of params() (groups of whole columns of one
  /// W_k, or all the biases) of about kTileEntries entries: small enough to stay in cache between
  /// their gradient and their update, many enough to share among threads. The cut depends on the
  /// sizes only, so a tiled update gives the same bits for any number of threads.
  Index param_tile_count() const { return Index(tiles_.size()); }
  /// The input units whose weights tile i holds: its columns of W₁ ({0, 0} for other tiles).
  Block param_tile_input_columns(Index i) const {
    const Tile& tile = tiles_[std::size_t(i)];
    return tile.layer == 1 ? Block{tile.col, tile.cols} : Block{0, 0};
  }
  Block param_tile(Index i) const { return {tiles_[std::size_t(i)].offset, tiles_[std::size_t(i)].size}; }
  /// out[0, param_tile(i).size) = the tile's entries of Σ ∂E/∂θ(s_a) − ∂E/∂θ(s_b).
  void param_gradient_difference_tile(const HebbianRates& rates, ConstRef<T> x, Index i, T* out) const {
    const Tile& tile = tiles_[std::size_t(i)];
    if (tile.layer == 0) {  // the biases: −Σ_batch (ρ(s_kᵃ) − ρ(s_kᵇ))
      Eigen::Map<Vector<T>> g(out, tile.size);
      g = -(rates.a - rates.b).rowwise().sum();
      return;
    }
    const Index k = tile.layer;
    Eigen::Map<Matrix<T>> gw(out, sizes_[std::size_t(k)], tile.cols);
    if (k == 1) {
      // −δ₁ x[cols]ᵀ: B(p, q) = x(col + q, p), so sk = x's column stride and sn = 1.
      unpacked_product(sizes_[1], tile.cols, x.cols(), rates.delta1.data(), rates.delta1.outerStride(),
                       x.data() + tile.col, x.outerStride(), Index(1), T(-1), out, sizes_[1]);
    } else {
      gw.noalias() = -layer(rates.a, k) * layer(rates.a, k - 1).middleRows(tile.col, tile.cols).transpose();
      gw.noalias() += layer(rates.b, k) * layer(rates.b, k - 1).middleRows(tile.col, tile.cols).transpose();
    }
  }
  /// A bound on |entry| of every tile of the Hebbian difference (see HasHebbianBound), +∞ when a
  /// rate or an input is not finite. Each entry is a sum over the batch of at most two products
  /// of rates and inputs (a W_k, k ≥ 2: ρ(s_kᵃ)ρ(s_{k−1}ᵃ) − ρ(s_kᵇ)ρ(s_{k−1}ᵇ); W₁: δ₁x; a bias: ρᵃ − ρᵇ),
  /// so it is at most 2·batch·m², m the largest of 1, |rates| and |x|. In double, so the bound
  /// itself cannot overflow.
  double hebbian_bound(const HebbianRates& rates, ConstRef<T> x) const {
    return hebbian_bound_from(hebbian_largest(rates, x, 0, x.cols()), x.cols());
  }
  /// The largest |entry| of columns [first, first + count) of the rates and of x, NaN when one of
  /// them is NaN (HasPartialHebbianBound): the bound's scan in parts, so that a trainer scans
  /// each chunk's columns on the thread that has just made them, while they are in its cache.
  /// Scanned serially after the chunks, the whole minibatch's took 1% of a 2-thread epoch.
  double hebbian_largest(const HebbianRates& rates, ConstRef<T> x, Index first, Index count) const {
    require<DimensionMismatch>(rates.a.cols() == x.cols() && rates.b.cols() == x.cols() &&
                                   rates.delta1.cols() == x.cols() && first >= 0 && count >= 0 &&
                                   first + count <= x.cols(),
                               "hebbian_largest: columns [", first, ", ", first + count, ") of rates of ",
                               rates.a.cols(), " columns and an input of ", x.cols());
    if (count == 0) return 0.0;
    LargestMagnitude<T> scan;
    // A matrix's columns are contiguous: the part's columns of each rate are one array.
    for (const Matrix<T>* r : {&rates.a, &rates.b, &rates.delta1}) scan.add(r->col(first).data(), count * r->rows());
    for (Index j = first; j < first + count; ++j) scan.add(x.col(j).data(), x.rows());
    return double(scan.result());
  }
  /// The bound of `cols` columns whose largest |entry| of rates and input is `largest` (the
  /// largest of hebbian_largest over parts that cover them): +∞ when it is not finite.
  static double hebbian_bound_from(double largest, Index cols) {
    if (!std::isfinite(largest)) return std::numeric_limits<double>::infinity();
    const double m = std::max(1.0, largest);
    return 2.0 * double(cols) * m * m;
  }
  /// Entries per parameter tile: 128 KiB of floats, a quarter of a typical L2 cache.
  static constexpr Index kTileEntries = Index(1) << 15;

  /// hv = H v per column, H = ∂²E/∂s² (the input is clamped, so it has no direction):
  /// \f[ (Hv)_k = v_k - \rho''(s_k) \odot p_k \odot v_k
  ///      - \rho'(s_k) \odot \big(W_k(\rho'(s_{k-1}) \odot v_{k-1}) + W_{k+1}^\top(\rho'(s_{k+1}) \odot v_{k+1})\big), \f]
  /// \f$ p_k = W_k\rho(s_{k-1}) + W_{k+1}^\top\rho(s_{k+1}) + b_k \f$.
  void hessian_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, MutRef<T> hv) const {
    check_shapes(s, x);
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols() && hv.rows() == s.rows() &&
                                   hv.cols() == s.cols(),
                               "hessian_vector: v and hv must have the shape of the state");
    const Index L = num_layers();
    Matrix<T> r(state_size_, s.cols()), d(state_size_, s.cols()), d2(state_size_, s.cols());
    rho_.rho(s, r);
    rho_.d_rho(s, d);
    rho_.d2_rho(s, d2);
    const Matrix<T> dv = (d.array() * v.array()).matrix();  // ρ'(s) ⊙ v
    Matrix<T> pre, mix;
    for (Index k = 1; k <= L; ++k) {
      pre = k == 1 ? Matrix<T>(weight(1) * x) : Matrix<T>(weight(k) * layer(r, k - 1));
      if (k < L) pre.noalias() += weight(k + 1).transpose() * layer(r, k + 1);
      pre.colwise() += bias(k);
      mix = Matrix<T>::Zero(layers_[std::size_t(k - 1)].size, s.cols());
      if (k > 1) mix.noalias() += weight(k) * layer(dv, k - 1);
      if (k < L) mix.noalias() += weight(k + 1).transpose() * layer(dv, k + 1);
      layer(hv, k) = layer(v, k) - (layer(d2, k).array() * pre.array() * layer(v, k).array()).matrix() -
                     (layer(d, k).array() * mix.array()).matrix();
    }
  }

  /// g = Mᵀv summed over the batch, M = ∂²E/∂s∂θ: the change of ∂E/∂θ when s moves along v.
  /// \f[ (M^\top v)_{W_k} = -(\rho'(s_k) \odot v_k)\rho(s_{k-1})^\top - \rho(s_k)(\rho'(s_{k-1}) \odot v_{k-1})^\top,
  ///     \qquad (M^\top v)_{b_k} = -\rho'(s_k) \odot v_k. \f]
  void mixed_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, VectorRef<T> grad) const {
    check_shapes(s, x);
    require<DimensionMismatch>(v.rows() == s.rows() && v.cols() == s.cols(),
                               "mixed_vector: v must have the shape of the state");
    require<DimensionMismatch>(grad.size() == params_.size(), "mixed_vector: output has ", grad.size(),
                               " entries but the model has ", params_.size(), " parameters");
    Matrix<T> r(state_size_, s.cols()), d(state_size_, s.cols());
    rho_.rho(s, r);
    rho_.d_rho(s, d);
    const Matrix<T> dv = (d.array() * v.array()).matrix();
    for (Index k = 1; k <= num_layers(); ++k) {
      const ParamBlock& wb = blocks_[std::size_t(k - 1)];
      Eigen::Map<Matrix<T>> gw(grad.data() + wb.offset, wb.rows, wb.cols);
      if (k == 1) {
        gw.noalias() = -layer(dv, 1) * x.transpose();
      } else {
        gw.noalias() = -layer(dv, k) * layer(r, k - 1).transpose();
        gw.noalias() -= layer(r, k) * layer(dv, k - 1).transpose();
      }
      const ParamBlock& bb = blocks_[std::size_t(num_layers() + k - 1)];
      grad.segment(bb.offset, bb.rows) = -layer(dv, k).rowwise().sum();
    }
  }

  /// The box [lo, hi] project() clips every state to, when it does: lets a solver fuse its own
  /// step with the projection (fixed_point with momentum).
  bool clip_range(double& lo, double& hi) const { return rho_.clip_range(lo, hi); }
  /// True for the hard sigmoid, which is constant outside [0, 1]: states are clipped there.
  bool projects() const {
    double lo = 0, hi = 0;
    return clip_range(lo, hi);
  }
  /// Clips the states to [0, 1] for the hard sigmoid (a no-op for smooth ρ).
  void project(MutRef<T> s) const {
    double lo = 0, hi = 0;
    if (rho_.clip_range(lo, hi)) s = s.array().max(T(lo)).min(T(hi)).matrix();
  }

 private:
  // Built with append rather than operator+: GCC 12 warns falsely (-Wrestrict) on "W" + to_string(k).
  static std::string block_name(char prefix, std::size_t k) {
    std::string name(1, prefix);
    name.append(std::to_string(k));
    return name;
  }
  Eigen::Map<Matrix<T>> map_block(Index i) {
    const ParamBlock& b = blocks_[std::size_t(i)];
    return Eigen::Map<Matrix<T>>(params_.data() + b.offset, b.rows, b.cols);
  }
  Eigen::Map<const Matrix<T>> map_block(Index i) const {
    const ParamBlock& b = blocks_[std::size_t(i)];
    return Eigen::Map<const Matrix<T>>(params_.data() + b.offset, b.rows, b.cols);
  }
  void check_gains(const std::vector<T>& gains, const char* who) const {
    require<InvalidOptions>(Index(gains.size()) == num_layers(), who, " needs one gain per layer of ", lazy_describe(),
                            " (", num_layers(), "), got ", gains.size());
    for (std::size_t k = 0; k < gains.size(); ++k)
      require<InvalidOptions>(std::isfinite(double(gains[k])) && gains[k] > T(0), who, ": the gain of layer ", k + 1,
                              " must be positive and finite, got ", gains[k]);
  }
  void check_shapes(const ConstRef<T>& s, const ConstRef<T>& x) const {
    require<DimensionMismatch>(s.rows() == state_size_, "state has ", s.rows(), " rows but the network ",
                               lazy_describe(), " has ", state_size_, " free units");
    require<DimensionMismatch>(x.rows() == input_size(), "clamped input has ", x.rows(), " rows but the network ",
                               lazy_describe(), " has ", input_size(), " input units");
    require<DimensionMismatch>(x.cols() == s.cols(), "clamped input has ", x.cols(), " columns but the state has ",
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

  /// A parameter tile: `cols` columns of W_layer from column `col`, or (layer 0) all the biases.
  struct Tile {
    Index offset, size, layer, col, cols;
  };

  std::vector<Index> sizes_;
  Activation rho_;
  std::vector<Tile> tiles_;
  std::vector<ParamBlock> blocks_;
  std::vector<Block> layers_;
  Index state_size_ = 0;
  Vector<T> params_;
};


/// How a LayeredHopfield's weights start.
enum class InitKind {
  fan_in_uniform,  ///< W_k, b_k ~ U(±gain/√n_{k−1}): PyTorch's nn.Linear, what the EP reference codes use
  glorot,          ///< W_k ~ U(±gain·√(6/(n_k + n_{k−1}))), zero biases
};

template <>
struct EnumNames<InitKind> {
  static constexpr std::array<std::pair<InitKind, std::string_view>, 2> values{
      {{InitKind::fan_in_uniform, "fan_in_uniform"}, {InitKind::glorot, "glorot"}}};
};

/// What a LayeredHopfield is built from (the config's [model] table for kind layered_hopfield).
struct LayeredHopfieldOptions {
  std::vector<Index> sizes = {784, 64, 10};  ///< input, hidden…, output
  Activation activation = Activation::Kind::hard_sigmoid;
  std::uint64_t init_seed = 1;
  /// Chosen by measurement (issue 12, README): at the EP reference's settings fan-in uniform
  /// reaches 85.0 ± 0.7% after one epoch over 5 seeds, Glorot (gain 1) 29–57%.
  InitKind init = InitKind::fan_in_uniform;
  double init_gain = 1.0;
  std::vector<double> init_gains;  ///< one per layer k = 1…L; empty: init_gain everywhere

  static constexpr auto fields() {
    using O = LayeredHopfieldOptions;
    return std::tuple{
        field("sizes", &O::sizes, "units per layer: input, hidden..., output (= the number of classes)",
              checks::LayerSizes{}),
        field("activation", &O::activation, "rho: hard_sigmoid, logistic or tanh"),
        field("init_seed", &O::init_seed, "seed of the initial weights"),
        field("init", &O::init, "fan_in_uniform (W, b ~ U(+-gain/sqrt(fan_in)), as PyTorch) or glorot (zero biases)"),
        field("init_gain", &O::init_gain, "gain of every layer's initial weights", positive),
        field("init_gains", &O::init_gains, "one gain per layer after the input (empty: init_gain)",
              checks::Every<checks::Positive>{}),
    };
  }

  bool is_valid(std::string* why, std::string_view prefix = "model.") const {
    if (!check_fields(*this, prefix, why)) return false;
    if (!init_gains.empty() && init_gains.size() != sizes.size() - 1) {
      if (why)
        *why = std::string(prefix) + "init_gains needs one gain per layer after the input (" +
               std::to_string(sizes.size() - 1) + "), got " + std::to_string(init_gains.size()) +
               " (or leave it empty for init_gain everywhere)";
      return false;
    }
    return true;
  }
};

/// The registry's description of LayeredHopfield (cli/registry.hpp): its name, options and factory.
struct LayeredHopfieldKind {
  static constexpr std::string_view name = "layered_hopfield";
  static constexpr std::string_view doc =
      "layered Hopfield network, E = ½Σ|s_k|² − Σρ(s_k)ᵀW_kρ(s_{k−1}) − Σb_kᵀρ(s_k) (Scellier & Bengio 2017)";
  using Options = LayeredHopfieldOptions;
  template <class T>
  using Model = LayeredHopfield<T>;

  /// The hard sigmoid clips states to [0, 1] (the model projects): only euler and fixed_point suit it.
  static bool clips_states(const Options& o) { return o.activation.kind() == Activation::Kind::hard_sigmoid; }

  template <class T>
  static LayeredHopfield<T> make(const Options& o) {
    LayeredHopfield<T> net(o.sizes, o.activation);
    std::vector<T> gains(o.sizes.size() - 1, T(o.init_gain));
    if (!o.init_gains.empty()) gains.assign(o.init_gains.begin(), o.init_gains.end());
    if (o.init == InitKind::glorot) net.init_glorot(o.init_seed, gains);
    else net.init_fan_in_uniform(o.init_seed, gains);
    return net;
  }
};

}  // namespace ebm
