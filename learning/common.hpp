#pragma once
/// \file
/// Small pieces every learning rule shares: the cost gradient laid out as a full state, the
/// per-batch loss and accuracy of a free phase, and a shared validation helper.

#include <sstream>
#include <string>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "solvers/phase.hpp"
#include "solvers/relax.hpp"
#include "learning/estimator.hpp"

namespace ebm {

namespace detail {

/// Builds "field must …" messages for the is_valid() of an options struct.
struct Why {
  std::string* out;
  template <class... Parts>
  bool operator()(const Parts&... parts) const {
    std::ostringstream w;
    (w << ... << parts);
    if (out) *out = w.str();
    return false;
  }
};

/// Prefixes a nested RelaxOptions' complaint ("relax.dt …") with the field that holds it.
inline bool nested_valid(const RelaxOptions& o, const char* field, std::string* why) {
  std::string inner;
  if (o.is_valid(&inner)) return true;
  if (why) *why = std::string(field) + ": " + inner;
  return false;
}

/// ∂C/∂s for the whole state: ∂C/∂y in the output rows, zero elsewhere.
template <class M, class C>
Matrix<typename M::Scalar> cost_state_gradient(const M& model, ConstRef<typename M::Scalar> s,
                                               ConstRef<typename M::Scalar> target, const C& cost) {
  using T = typename M::Scalar;
  const Block out = model.output_block();
  Matrix<T> g = Matrix<T>::Zero(s.rows(), s.cols());
  Matrix<T> gy(out.size, s.cols());
  cost.gradient(s.middleRows(out.offset, out.size), target, gy);
  g.middleRows(out.offset, out.size) = gy;
  return g;
}

/// Fills loss, correct and examples of `summary` from the free fixed point `s`.
template <class M, class C>
void score_free_phase(const M& model, ConstRef<typename M::Scalar> s, ConstRef<typename M::Scalar> target,
                      const C& cost, EstimateSummary& summary) {
  const Block out = model.output_block();
  const auto y = s.middleRows(out.offset, out.size);
  summary.loss = double(cost.value(y, target).sum());
  summary.examples = long(s.cols());
  summary.correct = 0;
  for (Index j = 0; j < s.cols(); ++j) {
    Index iy = 0, id = 0;
    y.col(j).maxCoeff(&iy);
    target.col(j).maxCoeff(&id);
    summary.correct += iy == id;
  }
}

/// Checks the shapes an estimator receives, with messages naming what is wrong.
template <class M>
void check_batch(const M& model, const ConstRef<typename M::Scalar>& x, const ConstRef<typename M::Scalar>& target,
                 const Matrix<typename M::Scalar>& s, Index grad_size) {
  require<DimensionMismatch>(x.rows() == model.input_size(), "input has ", x.rows(), " rows but the model has ",
                             model.input_size(), " input units");
  require<DimensionMismatch>(target.rows() == model.output_block().size && target.cols() == x.cols(),
                             "target is ", target.rows(), "×", target.cols(), " but the model has ",
                             model.output_block().size, " output units and the batch ", x.cols(), " examples");
  require<DimensionMismatch>(s.rows() == model.state_size() && s.cols() == x.cols(), "state is ", s.rows(), "×",
                             s.cols(), " but should be ", model.state_size(), "×", x.cols());
  require<DimensionMismatch>(grad_size == model.params().size(), "gradient output has ", grad_size,
                             " entries but the model has ", model.params().size(), " parameters");
}

/// The start every estimator shares (after check_batch): relax the free phase of `free` from `s`
/// (left at the free fixed point) and score it. Returns the summary the estimator goes on filling.
template <class M, class C>
EstimateSummary run_free_phase(const FreeSystem<M>& free, ConstRef<typename M::Scalar> target,
                               Matrix<typename M::Scalar>& s, const RelaxOptions& options, const C& cost,
                               Index first_example) {
  EstimateSummary summary;
  if constexpr (HasFreeFixedPoint<M>) summary.free_phase = relax_free_phase(free, s, options, first_example, 0);
  else summary.free_phase = relax(free, s, options, first_example);
  score_free_phase(free.model(), s, target, cost, summary);
  return summary;
}

/// grad = Σ over the batch of ∂E/∂θ(s_a) − ∂E/∂θ(s_b), the Hebbian difference of EP, CHL and
/// early inference: in one pass when the model offers it (one product for W₁), else two.
template <class M>
void param_gradient_difference(const M& model, ConstRef<typename M::Scalar> s_a, ConstRef<typename M::Scalar> s_b,
                               ConstRef<typename M::Scalar> x, VectorRef<typename M::Scalar> grad) {
  if constexpr (requires { model.param_gradient_difference(s_a, s_b, x, grad); }) {
    model.param_gradient_difference(s_a, s_b, x, grad);
  } else {
    Vector<typename M::Scalar> g_b(grad.size());
    model.param_gradient(s_a, x, grad);
    model.param_gradient(s_b, x, g_b);
    grad -= g_b;
  }
}

}  // namespace detail

}  // namespace ebm
