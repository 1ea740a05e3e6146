#pragma once
/// \file
/// The C++20 concepts a user type must satisfy to be relaxed and trained by ebm.
///
/// An energy model is a small class, in the spirit of a Boost.Odeint system or an
/// ensmallen function: it says what its energy is, and how it changes with the state
/// and with the parameters. Everything else (solvers, learning rules) is a template over it.
///
/// \code
/// struct MyModel {
///   using Scalar = double;
///   ebm::Index state_size() const;              // free units (rows of s)
///   ebm::Index input_size() const;              // clamped units (rows of x)
///   ebm::Block output_block() const;            // rows of s the cost reads
///   std::vector<ebm::Block> layer_blocks() const;
///   ebm::RowVector<double> energy(ebm::ConstRef<double> s, ebm::ConstRef<double> x) const;
///   void state_gradient(ebm::ConstRef<double> s, ebm::ConstRef<double> x, ebm::MutRef<double> g) const;
///   void param_gradient(ebm::ConstRef<double> s, ebm::ConstRef<double> x, ebm::VectorRef<double> g) const;
///   const ebm::Vector<double>& params() const;  ebm::Vector<double>& params();
///   const std::vector<ebm::ParamBlock>& param_blocks() const;
/// };
/// static_assert(ebm::check_energy_model<MyModel>());
/// \endcode

#include <concepts>
#include <vector>

#include "core/types.hpp"

namespace ebm {

/// `M::Scalar` is float or double.
template <class M>
concept HasScalar = requires { typename M::Scalar; } && std::floating_point<typename M::Scalar>;

/// Sizes: free units, clamped input units, the output rows and the layer partition.
template <class M>
concept HasSizes = HasScalar<M> && requires(const M& m) {
  { m.state_size() } -> std::convertible_to<Index>;
  { m.input_size() } -> std::convertible_to<Index>;
  { m.output_block() } -> std::convertible_to<Block>;
  { m.layer_blocks() } -> std::convertible_to<std::vector<Block>>;
};

/// Per-example energies E(s; x, θ) of a batch: one value per column.
template <class M>
concept HasEnergy = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s) {
  { m.energy(s, s) } -> std::convertible_to<RowVector<typename M::Scalar>>;
};

/// g = ∂E/∂s for every column of the batch (g has the shape of s).
template <class M>
concept HasStateGradient = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                    Matrix<typename M::Scalar>& g) {
  m.state_gradient(s, s, g);
};

/// g = Σ over the batch of ∂E/∂θ, laid out as the flat parameter vector.
template <class M>
concept HasParamGradient = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                    Vector<typename M::Scalar>& g) {
  m.param_gradient(s, s, g);
};

/// The parameters θ as one flat vector, and where each tensor sits in it.
template <class M>
concept HasParams = HasScalar<M> && requires(M& m, const M& cm) {
  { m.params() } -> std::same_as<Vector<typename M::Scalar>&>;
  { cm.params() } -> std::same_as<const Vector<typename M::Scalar>&>;
  { cm.param_blocks() } -> std::convertible_to<const std::vector<ParamBlock>&>;
};

/// An energy model: what the solvers relax and the learning rules train.
/// A model with parameters that a trainer can update, whether or not it has an energy (the
/// Xie–Seung network is a dynamics without one, trained by its own CHL rule).
template <class M>
concept TrainableModel = HasScalar<M> && HasSizes<M> && HasParams<M>;

template <class M>
concept EnergyModel =
    HasScalar<M> && HasSizes<M> && HasEnergy<M> && HasStateGradient<M> && HasParamGradient<M> && HasParams<M>;

/// Second-order products, which the exact (implicit-differentiation) gradient and
/// backprop through a relaxation need: hv = (∂²E/∂s²) v per column, and
/// g = Σ over the batch of (∂²E/∂s∂θ)ᵀ v, laid out as the parameters.
template <class M>
concept HasSecondOrder = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                  Matrix<typename M::Scalar>& hv, Vector<typename M::Scalar>& g) {
  m.hessian_vector(s, s, s, hv);
  m.mixed_vector(s, s, s, g);
};

/// Optional fast path: the clamped input's contribution to the free units (W₁x for a layered
/// network) is constant during a relaxation. A model that can split it off computes it once
/// per system (`input_drive`) and evaluates ∂E/∂s from it with a per-thread `Workspace`, so
/// that a relaxation step allocates nothing and skips the largest matrix product.
template <class M>
concept HasInputDrive = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                 Matrix<typename M::Scalar>& g, typename M::Workspace& ws) {
  { m.input_drive_rows() } -> std::convertible_to<Index>;
  m.input_drive(s, g);                      // drive = contribution of x, input_drive_rows() × batch
  m.state_gradient_driven(s, s, g, ws);     // g = ∂E/∂s given the drive
  { m.energy_driven(s, s, ws) } -> std::convertible_to<RowVector<typename M::Scalar>>;
};

/// Optional, with HasInputDrive: `input_drive_part(x, first, rows, out)` computes rows
/// [first, first + rows) of the drive, so that a trainer can compute a whole minibatch's drive
/// in one product split by rows among its threads (each packs only its rows of W₁) instead of one
/// product per chunk (each packing all of W₁).
template <class M>
concept HasPartialInputDrive = HasInputDrive<M> && requires(const M& m, const Matrix<typename M::Scalar>& x,
                                                             Matrix<typename M::Scalar>& out) {
  m.input_drive_part(x, Index(0), Index(1), out);
};

/// Optional fast path: the Hebbian difference Σ ∂E/∂θ(s_a) − ∂E/∂θ(s_b) of a whole minibatch,
/// computed in tiles (contiguous ranges of params()) that are independent of one another, so that
/// a trainer can compute and apply them in parallel while each is in cache. `hebbian_rates` reads
/// the batch once; each tile then reads only it and x.
template <class M>
concept HasTiledHebbian = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                   typename M::HebbianRates& r, typename M::Scalar* out) {
  m.hebbian_rates(s, s, s, r);
  { m.param_tile_count() } -> std::convertible_to<Index>;
  { m.param_tile(Index(0)) } -> std::convertible_to<Block>;
  m.param_gradient_difference_tile(r, s, Index(0), out);
};

/// Optional, with HasTiledHebbian: `resize_hebbian_rates(batch, r)`, then
/// `hebbian_rates_part(s_a, s_b, first, r)` fills the columns of a chunk, so that a trainer
/// computes the rates inside its parallel relaxations instead of after them, serially.
template <class M>
concept HasPartialHebbianRates = HasTiledHebbian<M> && requires(const M& m, const Matrix<typename M::Scalar>& s,
                                                                 typename M::HebbianRates& r) {
  m.resize_hebbian_rates(Index(1), r);
  m.hebbian_rates_part(s, s, Index(0), r);
};

/// Optional, with HasPartialInputDrive and HasTiledHebbian: the drive in stages along the input.
/// `input_drive_stage(x, first, rows, k_first, k_count, out)` takes rows [first, first + rows)
/// of the drive over the input units [k_first, k_first + k_count) only, continuing each entry's
/// sum from `out` (from zero when k_first = 0, adding the bias with the last units), so that
/// stages over consecutive ranges give input_drive_part's bits. `param_tile_input_columns(i)` is
/// the range of input units whose weights tile i holds ({0, 0}: none). A trainer then gives each
/// thread a range of the input units and their weights' tiles: the drive passes each block of
/// rows from thread to thread, and every thread reads and updates only its own columns of W₁,
/// which stay in its cache (training/trainer.hpp, batch_drive).
template <class M>
concept HasPipelinedInputDrive =
    HasPartialInputDrive<M> && HasTiledHebbian<M> &&
    requires(const M& m, const Matrix<typename M::Scalar>& x, Matrix<typename M::Scalar>& out) {
      m.input_drive_stage(x, Index(0), Index(1), Index(0), Index(1), out);
      { m.input_size() } -> std::convertible_to<Index>;
      { m.param_tile_input_columns(Index(0)) } -> std::convertible_to<Block>;
    };

/// Optional, with HasTiledHebbian: `hebbian_bound(r, x)` is a bound on |entry| of every tile of
/// the Hebbian difference of rates `r` and input x, from those inputs alone (NaN or ∞ when some of
/// them is not finite). Where it is finite with room to spare, no tile can come out non-finite, so
/// a trainer applies each tile as soon as it is computed, while it is in cache, instead of first
/// checking every tile.
template <class M>
concept HasHebbianBound = HasTiledHebbian<M> && requires(const M& m, const Matrix<typename M::Scalar>& x,
                                                          const typename M::HebbianRates& r) {
  { m.hebbian_bound(r, x) } -> std::convertible_to<double>;
};

/// Optional, with HasHebbianBound and HasPartialHebbianRates: the bound's scan in parts of the
/// batch's columns. `hebbian_largest(r, x, first, count)` is the largest |entry| of columns
/// [first, first + count) of the rates and of x (NaN when one is NaN), and
/// `hebbian_bound_from(largest, cols)` the bound of `cols` columns whose largest is `largest`:
/// hebbian_bound(r, x) = hebbian_bound_from(the largest over parts covering the columns, cols).
template <class M>
concept HasPartialHebbianBound =
    HasHebbianBound<M> && HasPartialHebbianRates<M> &&
    requires(const M& m, const Matrix<typename M::Scalar>& x, const typename M::HebbianRates& r) {
      { m.hebbian_largest(r, x, Index(0), Index(1)) } -> std::convertible_to<double>;
      { m.hebbian_bound_from(1.0, Index(1)) } -> std::convertible_to<double>;
    };

/// Optional: a model whose free fixed point (the minimum of E with only the input clamped) is known
/// in closed form, e.g. a predictive-coding network's, which is its feed-forward pass.
/// `free_fixed_point(x, s)` resizes s to state_size × batch and fills it; free phases then take it
/// instead of relaxing (relax_free_phase, solvers/phase.hpp).
template <class M>
concept HasFreeFixedPoint = HasScalar<M> && requires(const M& m, const Matrix<typename M::Scalar>& x,
                                                     Matrix<typename M::Scalar>& s) {
  m.free_fixed_point(x, s);
};

/// Optional: a model may restrict its states to a box (see Activation::clip_range).
/// `projects()` says whether it does for this instance (a LayeredHopfield does with the hard
/// sigmoid only); euler and fixed_point then project after each step.
template <class M>
concept HasProjection = requires(const M& m, Matrix<typename M::Scalar>& s) {
  m.project(s);
  { m.projects() } -> std::convertible_to<bool>;
};

/// A cost C(y, d) on the output units y given a target d, per example.
template <class C, class T>
concept Cost = requires(const C& c, const Matrix<T>& y, Matrix<T>& g) {
  { c.value(y, y) } -> std::convertible_to<RowVector<T>>;
  c.gradient(y, y, g);  // g = ∂C/∂y
};

/// What a solver relaxes: an energy with its clamped inputs (and nudging) already bound.
template <class S>
concept Relaxable = HasScalar<S> && requires(const S& sys, const Matrix<typename S::Scalar>& s,
                                             Matrix<typename S::Scalar>& g) {
  { sys.state_size() } -> std::convertible_to<Index>;
  { sys.layer_blocks() } -> std::convertible_to<std::vector<Block>>;
  { sys.energy(s) } -> std::convertible_to<RowVector<typename S::Scalar>>;
  sys.gradient(s, g);  // g = ∂F/∂s
};

/// Compile-time check with a message that names the missing member: call as
/// `static_assert(check_energy_model<M>())` next to a model's definition.
template <class M>
consteval bool check_energy_model() {
  static_assert(HasScalar<M>, "ebm energy model: needs `using Scalar = float;` or `double`");
  static_assert(HasSizes<M>,
                "ebm energy model: needs state_size(), input_size(), output_block() and layer_blocks()");
  static_assert(HasEnergy<M>, "ebm energy model: lacks `RowVector<Scalar> energy(s, x) const`");
  static_assert(HasStateGradient<M>, "ebm energy model: lacks `void state_gradient(s, x, g) const`");
  static_assert(HasParamGradient<M>, "ebm energy model: lacks `void param_gradient(s, x, g) const`");
  static_assert(HasParams<M>, "ebm energy model: lacks params() (const and non-const) or param_blocks()");
  return EnergyModel<M>;
}

}  // namespace ebm
