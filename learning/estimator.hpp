#pragma once
/// \file
/// The interface every learning rule implements, so that training, the gradient checker and
/// the command-line tool treat EP, CHL, early inference and the exact gradients alike.
///
/// An estimator is a small class holding its options, with one member:
/// \code
/// EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target,
///                          Matrix<T>& s, VectorRef<T> grad, Index first_example) const;
/// \endcode
/// - `x` (input_size × batch) and `target` (output units × batch) are one minibatch (or a chunk of it);
/// - `s` (state_size × batch) holds the free phase's starting state on entry (zeros, or a
///   persistent warm start) and the free fixed point on return;
/// - `grad` receives the SUM over the batch of the estimate of dJ/dθ, J = C(s⁰_out, d) the cost
///   at the free fixed point, laid out as model.params() (descent moves θ along −grad);
/// - `first_example` is the batch index of column 0 (noise streams, error messages).

#include <concepts>

#include "core/concepts.hpp"
#include "solvers/summary.hpp"

namespace ebm {

/// What one estimate reports: how its relaxations went and how the free phase did.
struct EstimateSummary {
  RelaxSummary free_phase;    ///< the free relaxation
  RelaxSummary nudged_phase;  ///< the nudged / clamped relaxations (merged if several)
  double loss = 0.0;          ///< Σ over the batch of C(s⁰_out, d) at the free fixed point
  long correct = 0;           ///< examples whose largest output unit is the target's largest entry
  long examples = 0;

  void merge(const EstimateSummary& o) {
    free_phase.merge(o.free_phase);
    nudged_phase.merge(o.nudged_phase);
    loss += o.loss;
    correct += o.correct;
    examples += o.examples;
  }
};

/// An estimator of dJ/dθ for models of type M (see the file comment for the contract).
template <class E, class M>
concept Estimator = TrainableModel<M> && requires(const E& e, const M& m, const Matrix<typename M::Scalar>& x,
                                               Matrix<typename M::Scalar>& s, Vector<typename M::Scalar>& g) {
  { e.estimate(m, x, x, s, g, Index(0)) } -> std::convertible_to<EstimateSummary>;
};

/// Optional: an estimator whose estimate is a Hebbian difference of two relaxed states,
/// \f$ \frac{1}{\text{pair\_divisor}()} \sum_{\text{batch}} \big[\partial_\theta E(s_a) - \partial_\theta E(s_b)\big] \f$
/// (EP, CHL). `relax_pair(model, x, target, s, s_a, s_b, first_example)` runs the relaxations
/// only, so that a trainer can relax the chunks of a minibatch in parallel and then compute the
/// difference of the whole minibatch at once (HasTiledHebbian), instead of one per chunk.
template <class E, class M>
concept HebbianPairEstimator =
    Estimator<E, M> && requires(const E& e, const M& m, const Matrix<typename M::Scalar>& x,
                                Matrix<typename M::Scalar>& s) {
      { e.relax_pair(m, x, x, s, s, s, Index(0)) } -> std::convertible_to<EstimateSummary>;
      { e.pair_divisor() } -> std::convertible_to<double>;
    };

}  // namespace ebm
