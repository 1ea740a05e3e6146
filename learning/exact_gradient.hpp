#pragma once
/// \file
/// The exact gradient of the cost at the free fixed point, by implicit differentiation
/// (recurrent backprop, Almeida 1987; Pineda 1987): the ground truth every local learning rule
/// is judged against.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// How the adjoint system H λ = ∂C/∂s is solved.
enum class AdjointSolver {
  conjugate_gradient,  ///< CG on Hessian-vector products, all examples at once (H must be positive definite)
  dense,               ///< build H per example from n products and LU-factorize it (small nets; any invertible H)
};

template <>
struct EnumNames<AdjointSolver> {
  static constexpr std::array<std::pair<AdjointSolver, std::string_view>, 2> values{
      {{AdjointSolver::conjugate_gradient, "conjugate_gradient"}, {AdjointSolver::dense, "dense"}}};
};

/// Options of ExactGradient.
struct ExactGradientOptions {
  /// The free relaxation. The exact gradient is exact only at a fixed point: a residual δ in
  /// ‖∂E/∂s‖ becomes an O(δ) error, so the default asks for 1e-10 (THEORY.md §0).
  RelaxOptions free = [] {
    RelaxOptions o;
    o.method = Method::rk4;
    o.dt = 0.2;
    o.grad_tol = 1e-10;
    return o;
  }();
  AdjointSolver solver = AdjointSolver::conjugate_gradient;
  /// CG stops when every example's residual ‖Hλ − ∂C/∂s‖ ≤ cg_tol·‖∂C/∂s‖ (cg_tol floored at
  /// 1000 ulps of the scalar: float cannot reach the default).
  double cg_tol = 1e-13;
  /// CG iteration budget; 0 means 10 × state size (CG is exact in n steps in exact arithmetic).
  long cg_max_iterations = 0;

  static constexpr auto fields() {
    using O = ExactGradientOptions;
    return std::tuple{
        field("solver", &O::solver, "adjoint solve: conjugate_gradient (H positive definite) or dense (small nets)"),
        field("cg_tol", &O::cg_tol, "CG stops at residual cg_tol * |dC/ds|", checks::InRange{0, 1}),
        field("cg_max_iterations", &O::cg_max_iterations, "CG budget (0 = 10 x state size)", non_negative),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    detail::Why bad{why};
    if (!detail::nested_valid(free, "exact.free", why)) return false;
    if (!(cg_tol > 0 && cg_tol < 1)) return bad("exact.cg_tol must be in (0, 1), got ", cg_tol);
    if (cg_max_iterations < 0) return bad("exact.cg_max_iterations must be ≥ 0 (0 = 10 × state size), got ",
                                          cg_max_iterations);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// Solves \f$ H\lambda = r \f$ per column, \f$ H = \partial^2 E/\partial s^2 \f$ at the state `s`.
/// Throws ebm::Error when H is not positive definite (CG) or singular (dense): the state is
/// then not a strict minimum and the implicit gradient does not exist.
template <class M>
  requires EnergyModel<M> && HasSecondOrder<M>
Matrix<typename M::Scalar> solve_adjoint(const M& model, ConstRef<typename M::Scalar> s,
                                         ConstRef<typename M::Scalar> x, ConstRef<typename M::Scalar> rhs,
                                         const ExactGradientOptions& options = {}) {
  using T = typename M::Scalar;
  const Index n = s.rows(), batch = s.cols();
  Matrix<T> lambda = Matrix<T>::Zero(n, batch);
  // A projected model (the hard sigmoid's states clipped to [0, 1]) holds the units at a bound
  // there: an active constraint, so they do not move with θ (ds_i/dθ = 0) and their adjoint is 0.
  // The system to solve is the Hessian restricted to the other units. Counting them as free
  // instead (ρ' = 1 on the closed interval) makes H indefinite once the weights grow, which
  // stopped recurrent-backprop training on Fashion-MNIST after 165 minibatches.
  Matrix<T> free_units;
  if constexpr (HasProjection<M>) {
    if (model.projects()) {
      const T delta = T(1e-6);
      Matrix<T> up = s, down = s;
      up.array() += delta;
      down.array() -= delta;
      model.project(up);
      model.project(down);
      free_units = ((up - s).array() > delta / 2 && (s - down).array() > delta / 2).template cast<T>().matrix();
    }
  }
  const bool masked = free_units.size() > 0;
  const Matrix<T> r0 = masked ? Matrix<T>(rhs.cwiseProduct(free_units)) : Matrix<T>(rhs);
  if (options.solver == AdjointSolver::dense) {
    // One example at a time: n Hessian-vector products against the identity give its H.
    Matrix<T> sj(n, n), xj(x.rows(), n), h(n, n);
    const Matrix<T> eye = Matrix<T>::Identity(n, n);
    for (Index j = 0; j < batch; ++j) {
      sj = s.col(j).replicate(1, n);
      xj = x.col(j).replicate(1, n);
      model.hessian_vector(sj, xj, eye, h);
      if (masked) {  // D H D + (I − D): the bound units' rows and columns become the identity's
        const auto d = free_units.col(j).array();
        h = (d.matrix().asDiagonal() * h * d.matrix().asDiagonal()).eval();
        h.diagonal().array() += T(1) - d;
      }
      Eigen::FullPivLU<Matrix<T>> lu(h);
      require(lu.isInvertible(), "exact gradient: the Hessian at example ", j,
              " is singular; the free state is not a strict minimum");
      lambda.col(j) = lu.solve(r0.col(j));
    }
    return lambda;
  }
  // Conjugate gradients, every column its own system, driven by one batched product per iteration.
  const long budget = options.cg_max_iterations > 0 ? options.cg_max_iterations : 10 * long(n);
  Matrix<T> r = r0, p = r0, hp(n, batch);
  RowVector<T> rs = r.colwise().squaredNorm();
  // A tolerance below the scalar's rounding cannot be met: CG would iterate on rounding noise
  // until a direction shows a spurious negative curvature (float with the default 1e-13 did, on
  // Fashion-MNIST). The floor is 1000 ulps: 1.2e-4 in float, 2.2e-13 in double.
  const T tol = std::max(T(options.cg_tol), T(1000) * std::numeric_limits<T>::epsilon());
  const RowVector<T> stop = (tol * r0.colwise().norm()).array().square().matrix();
  for (long it = 0; it < budget; ++it) {
    if ((rs.array() <= stop.array()).all()) return lambda;
    model.hessian_vector(s, x, p, hp);
    if (masked) hp = hp.cwiseProduct(free_units);
    for (Index j = 0; j < batch; ++j) {
      if (rs(j) <= stop(j)) continue;  // this column is done: leave it as it is
      const T curvature = p.col(j).dot(hp.col(j));
      require(curvature > T(0), "exact gradient: the Hessian at example ", j,
              " is not positive definite (pᵀHp = ", curvature,
              "); the free state is not a strict minimum (use AdjointSolver::dense for a saddle)");
      const T alpha = rs(j) / curvature;
      lambda.col(j) += alpha * p.col(j);
      r.col(j) -= alpha * hp.col(j);
      const T rs_new = r.col(j).squaredNorm();
      p.col(j) = r.col(j) + (rs_new / rs(j)) * p.col(j);
      rs(j) = rs_new;
    }
  }
  require((rs.array() <= stop.array()).all(), "exact gradient: conjugate gradients did not reach exact.cg_tol = ",
          double(tol), " in ", budget, " iterations (largest relative residual ",
          std::sqrt(double((rs.array() / r0.colwise().squaredNorm().array().max(T(1e-300))).maxCoeff())), ")");
  return lambda;
}

/// The implicit gradient at a fixed point and its adjoint.
template <class T>
struct AdjointGradient {
  Vector<T> grad;    ///< Σ over the batch of dJ/dθ, laid out as the parameters
  Matrix<T> lambda;  ///< λ = H⁻¹ ∂C/∂s per example (state_size × batch); ds^β/dβ at β = 0 is −λ
};

/// Implicit differentiation at the fixed point `s` (not relaxed here):
/// \f[ \lambda = H^{-1}\,\partial C/\partial s, \qquad \frac{dJ}{d\theta} = \frac{\partial C}{\partial\theta}
///     - M^\top\lambda = -M^\top\lambda, \qquad H = \frac{\partial^2 E}{\partial s^2},\;
///     M = \frac{\partial^2 E}{\partial s\,\partial\theta}, \f]
/// since C reads only the state. This is recurrent backprop (Almeida–Pineda).
template <class M, class C = SquaredError<typename M::Scalar>>
  requires EnergyModel<M> && HasSecondOrder<M>
AdjointGradient<typename M::Scalar> implicit_gradient(const M& model, ConstRef<typename M::Scalar> s,
                                                      ConstRef<typename M::Scalar> x,
                                                      ConstRef<typename M::Scalar> target,
                                                      const ExactGradientOptions& options = {}, const C& cost = C{}) {
  using T = typename M::Scalar;
  AdjointGradient<T> out;
  const Matrix<T> dc = detail::cost_state_gradient(model, s, target, cost);
  out.lambda = solve_adjoint(model, s, x, dc, options);
  out.grad.resize(model.params().size());
  model.mixed_vector(s, x, out.lambda, out.grad);
  out.grad = -out.grad;
  return out;
}

/// The exact gradient as an estimator: relaxes the free phase to a tight fixed point, then
/// applies implicit_gradient(). Ground truth for EP, CHL and early inference.
template <std::floating_point T, class C = SquaredError<T>>
class ExactGradient {
 public:
  explicit ExactGradient(ExactGradientOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const ExactGradientOptions& options() const { return options_; }

  template <class M>
    requires EnergyModel<M> && HasSecondOrder<M> && std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    FreeSystem free(model, x);
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);
    grad = implicit_gradient(model, s, x, target, options_, cost_).grad;
    return summary;
  }

  /// Like estimate(), but also returns λ per example (the free fixed point is left in `s`).
  template <class M>
    requires EnergyModel<M> && HasSecondOrder<M> && std::same_as<typename M::Scalar, T>
  AdjointGradient<T> gradient_and_adjoint(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s,
                                          Index first_example = 0) const {
    FreeSystem free(model, x);
    relax(free, s, options_.free, first_example);
    return implicit_gradient(model, s, x, target, options_, cost_);
  }

 private:
  ExactGradientOptions options_;
  C cost_;
};

}  // namespace ebm
