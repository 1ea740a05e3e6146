#pragma once
/// \file
/// Binding a model to its clamped input (and, for the nudged phase, to a cost and a
/// target): the result is what a solver relaxes, F(s) = E(s; x) + β C(s_out, d).

#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/fused_sweep.hpp"
#include "core/magnitude_scan.hpp"

namespace ebm {

namespace detail {
template <class M>
void check_input(const M& model, Index rows, Index cols, Index batch) {
  require<DimensionMismatch>(rows == model.input_size(), "clamped input has ", rows, " rows but the model has ",
                             model.input_size(), " input units");
  if (batch >= 0)
    require<DimensionMismatch>(cols == batch, "clamped input has ", cols, " columns but the target has ", batch);
}
/// The clamped input's constant contribution, computed once per system (HasInputDrive),
/// with the per-system workspace; empty for models without the fast path.
template <class M>
struct InputCache {
  void init(const M&, const ConstRef<typename M::Scalar>&) {}
  void gradient(const M& model, ConstRef<typename M::Scalar> s, ConstRef<typename M::Scalar> x,
                MutRef<typename M::Scalar> g) const {
    model.state_gradient(s, x, g);
  }
  RowVector<typename M::Scalar> energy(const M& model, ConstRef<typename M::Scalar> s,
                                       ConstRef<typename M::Scalar> x) const {
    return model.energy(s, x);
  }
  FusedStep projected_step(const M&, MutRef<typename M::Scalar>, MutRef<typename M::Scalar>, typename M::Scalar,
                           double) const {
    return FusedStep::refused;
  }
};
template <HasInputDrive M>
struct InputCache<M> {
  Matrix<typename M::Scalar> drive;
  mutable typename M::Workspace workspace;
  void init(const M& model, const ConstRef<typename M::Scalar>& x) {
    drive.resize(model.input_drive_rows(), x.cols());
    model.input_drive(x, drive);
    if constexpr (requires { model.prepare(workspace); }) model.prepare(workspace);
  }
  /// From a drive computed elsewhere (a trainer's, for the whole minibatch).
  void init_from(const M& model, const ConstRef<typename M::Scalar>& given) {
    drive = given;
    if constexpr (requires { model.prepare(workspace); }) model.prepare(workspace);
  }
  void gradient(const M& model, ConstRef<typename M::Scalar> s, ConstRef<typename M::Scalar> /*x*/,
                MutRef<typename M::Scalar> g) const {
    model.state_gradient_driven(s, drive, g, workspace);
  }
  RowVector<typename M::Scalar> energy(const M& model, ConstRef<typename M::Scalar> s,
                                       ConstRef<typename M::Scalar> /*x*/) const {
    return model.energy_driven(s, drive, workspace);
  }
  /// The fused fixed-point step, where the model has one (see FreeSystem::projected_step).
  FusedStep projected_step(const M& model, MutRef<typename M::Scalar> s, MutRef<typename M::Scalar> g,
                           typename M::Scalar dt, double bound) const {
    if constexpr (requires { model.projected_step_driven(s, g, drive, dt, bound, workspace); })
      return model.projected_step_driven(s, g, drive, dt, bound, workspace);
    else
      return FusedStep::refused;
  }
};
}  // namespace detail

/// The free phase: F(s) = E(s; x). Holds references: the model and x must outlive it.
/// A system caches what is constant during a relaxation (W₁x): build it after the
/// parameters change, not before. Each thread relaxes its own system (it has a workspace).
template <EnergyModel M>
class FreeSystem {
 public:
  using Scalar = typename M::Scalar;
  using Model = M;

  FreeSystem(const M& model, ConstRef<Scalar> x) : model_(model), x_(x) {
    detail::check_input(model, x.rows(), x.cols(), -1);
    cache_.init(model, x);
  }
  /// With the input's drive already computed (HasInputDrive): `drive` must be the model's
  /// input_drive(x) with the current parameters.
  FreeSystem(const M& model, ConstRef<Scalar> x, ConstRef<Scalar> drive)
    requires HasInputDrive<M>
      : model_(model), x_(x) {
    detail::check_input(model, x.rows(), x.cols(), -1);
    require<DimensionMismatch>(drive.rows() == model.input_drive_rows() && drive.cols() == x.cols(),
                               "input drive is ", drive.rows(), "×", drive.cols(), " but the model's is ",
                               model.input_drive_rows(), "×", x.cols());
    cache_.init_from(model, drive);
  }

  Index state_size() const { return model_.state_size(); }
  Index batch_size() const { return x_.cols(); }
  std::vector<Block> layer_blocks() const { return model_.layer_blocks(); }
  const M& model() const { return model_; }
  ConstRef<Scalar> input() const { return x_; }
  const detail::InputCache<M>& input_cache() const { return cache_; }

  RowVector<Scalar> energy(ConstRef<Scalar> s) const { return cache_.energy(model_, s, x_); }
  void gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const { cache_.gradient(model_, s, x_, g); }
  /// Whether states live in the model's box (see HasProjection); solvers keep them there.
  bool projects() const {
    if constexpr (HasProjection<M>) return model_.projects();
    else return false;
  }
  void project(MutRef<Scalar> s) const {
    if constexpr (HasProjection<M>) model_.project(s);
  }
  /// The model's box, where project() is a clip to one (see LayeredHopfield::clip_range).
  bool clip_range(double& lo, double& hi) const {
    if constexpr (requires { model_.clip_range(lo, hi); }) return model_.clip_range(lo, hi);
    else return false;
  }
  /// Optional fast path of the fixed-point step: s ← P(s − dt·g), then g ← ∂F/∂s(s), in one pass
  /// where the model can fuse them (LayeredHopfield::projected_step_driven), bit for bit what
  /// project() and gradient() give. Refused, touching nothing, where it cannot; `bound` is the
  /// divergence bound of the states (see FusedStep).
  FusedStep projected_step(MutRef<Scalar> s, MutRef<Scalar> g, Scalar dt, double bound) const {
    return cache_.projected_step(model_, s, g, dt, bound);
  }

 private:
  const M& model_;
  ConstRef<Scalar> x_;
  detail::InputCache<M> cache_;
};

/// The nudged phase: \f[ F(s) = E(s; x) + \beta\, C(s_{\text{out}}, d). \f]
/// β may be negative (the symmetric EP estimator uses ±β).
template <EnergyModel M, class C = SquaredError<typename M::Scalar>>
  requires Cost<C, typename M::Scalar>
class NudgedSystem {
 public:
  using Scalar = typename M::Scalar;
  using Model = M;

  NudgedSystem(const M& model, ConstRef<Scalar> x, ConstRef<Scalar> target, Scalar beta, C cost = C{})
      : model_(model), x_(x), target_(target), beta_(beta), cost_(cost) {
    detail::check_input(model, x.rows(), x.cols(), target.cols());
    require<DimensionMismatch>(target.rows() == model.output_block().size, "target has ", target.rows(),
                               " rows but the model has ", model.output_block().size, " output units");
    cache_.init(model, x);
  }

  /// The nudged phase of the batch of `free_phase`, reusing its cached input drive.
  NudgedSystem(const FreeSystem<M>& free_phase, ConstRef<Scalar> target, Scalar beta, C cost = C{})
      : model_(free_phase.model()), x_(free_phase.input()), target_(target), beta_(beta), cost_(cost),
        cache_(free_phase.input_cache()) {
    detail::check_input(model_, x_.rows(), x_.cols(), target.cols());
    require<DimensionMismatch>(target.rows() == model_.output_block().size, "target has ", target.rows(),
                               " rows but the model has ", model_.output_block().size, " output units");
  }

  Index state_size() const { return model_.state_size(); }
  Index batch_size() const { return x_.cols(); }
  std::vector<Block> layer_blocks() const { return model_.layer_blocks(); }
  const M& model() const { return model_; }
  Scalar beta() const { return beta_; }
  void set_beta(Scalar beta) { beta_ = beta; }

  RowVector<Scalar> energy(ConstRef<Scalar> s) const {
    const Block out = model_.output_block();
    return cache_.energy(model_, s, x_) + beta_ * cost_.value(s.middleRows(out.offset, out.size), target_);
  }
  void gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const {
    cache_.gradient(model_, s, x_, g);
    if (beta_ != Scalar(0)) add_cost_gradient(s, g);
  }
  /// Whether states live in the model's box (see HasProjection); solvers keep them there.
  bool projects() const {
    if constexpr (HasProjection<M>) return model_.projects();
    else return false;
  }
  void project(MutRef<Scalar> s) const {
    if constexpr (HasProjection<M>) model_.project(s);
  }
  /// The model's box, where project() is a clip to one (see LayeredHopfield::clip_range).
  bool clip_range(double& lo, double& hi) const {
    if constexpr (requires { model_.clip_range(lo, hi); }) return model_.clip_range(lo, hi);
    else return false;
  }
  /// FreeSystem::projected_step, then the cost's pull on the output units as in gradient().
  FusedStep projected_step(MutRef<Scalar> s, MutRef<Scalar> g, Scalar dt, double bound) const {
    FusedStep done = cache_.projected_step(model_, s, g, dt, bound);
    if (done == FusedStep::refused || beta_ == Scalar(0)) return done;
    add_cost_gradient(s, g);
    const Block out = model_.output_block();
    if (done == FusedStep::stepped_checked &&
        !all_within(g.middleRows(out.offset, out.size), magnitude_limit<Scalar>(std::numeric_limits<double>::infinity())))
      done = FusedStep::stepped;  // the cost's pull is not finite: the solver names where
    return done;
  }

 private:
  void add_cost_gradient(ConstRef<Scalar> s, MutRef<Scalar> g) const {
    const Block out = model_.output_block();
    cost_gradient_.resize(out.size, s.cols());  // no-op after the first call
    cost_.gradient(s.middleRows(out.offset, out.size), target_, cost_gradient_);
    g.middleRows(out.offset, out.size) += beta_ * cost_gradient_;
  }

  const M& model_;
  ConstRef<Scalar> x_;
  ConstRef<Scalar> target_;
  Scalar beta_;
  C cost_;
  detail::InputCache<M> cache_;
  mutable Matrix<Scalar> cost_gradient_;  // workspace: one system per thread
};

}  // namespace ebm
