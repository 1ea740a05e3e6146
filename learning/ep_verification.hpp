#pragma once
/// \file
/// EP checked against the exact gradient with relaxations tight enough for what is measured.
///
/// A residual δ = ‖∂F/∂s‖ left by a relaxation moves the state by about H⁻¹δ and the estimate by
/// Mᵀ H⁻¹ δ / β (M = ∂²E/∂s∂θ): divided by β, it swamps the O(β) or O(β²) bias being measured as β
/// shrinks (THEORY.md §0, "pitfall"). So each phase here is relaxed to a residual derived from its
/// β, and every estimate carries that first-order error Mᵀ H⁻¹ δ / β (computed from the actual
/// residual vectors, not guessed) and the rounding of the Hebbian difference as its error floor;
/// judge_order() fits only above it.
///
/// All three EP estimates come from one free fixed point s⁰ and the two nudged ones s^{±β}:
/// one-sided (+β), one-sided (−β) — the two draws of random-sign EP — and symmetric, their average,
/// which is random-sign EP's expectation (bias O(β²)).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/gradient_checker.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// How a check relaxes its phases.
struct VerificationRelax {
  /// The method of every phase (its grad_tol is derived per phase, see needed_residual()).
  RelaxOptions method = [] {
    RelaxOptions o;
    o.method = Method::rk4;
    o.dt = 0.2;
    o.max_steps = 200000;
    o.t_max = 4e4;
    o.stall_steps = 5000;  // t = 1000 without a 1% gain: chattering at a kink, or the rounding floor
    return o;
  }();
  /// The residual asked of a nudged phase at β for an estimator of order p is
  /// safety · β^{p+1} · ‖∂C/∂s‖ (see needed_residual()).
  double safety = 1e-3;
  /// Never ask less than this: about where the rounding of ∂F/∂s (‖s‖ ε_double, summed over a
  /// layer) stops a double relaxation from going lower.
  double achievable = 1e-13;
  /// Relax with these options as they are (the user's relaxation) instead: the check then reports
  /// whether they reach the residual it needs.
  bool from_config = false;
  RelaxOptions config_free, config_nudged;
};

/// The residual a phase nudged with β must reach so that an estimator whose bias is O(β^order)
/// is measured, not its relaxation: the residual moves the estimate by about δ/(β‖∂C/∂s‖)
/// relatively (state error δ/h against a signal of size β‖∂C/∂s‖/h, h the curvature), which must sit
/// `safety` below a bias of size β^order. A floor at `achievable`.
inline double needed_residual(double beta, int order, double cost_gradient_scale, const VerificationRelax& r) {
  return std::max(r.achievable, r.safety * cost_gradient_scale * std::pow(std::abs(beta), order + 1));
}

/// One relaxation of a check: how it ended and what it was asked.
struct CheckedPhase {
  RelaxSummary summary;
  double needed = 0;  ///< the residual the check needs from it
  bool reached() const { return summary.final_grad_norm <= needed; }
};

/// The free phase a check starts from, and what its residual does to the estimates.
template <class T>
struct FreePoint {
  Matrix<T> s;                ///< the free fixed point s⁰
  CheckedPhase phase;
  double cost_gradient_scale = 0;  ///< RMS over the batch of ‖∂C/∂s(s⁰)‖
  Vector<T> residual_effect;  ///< Mᵀ H⁻¹ r(s⁰), the first-order change of Σ∂E/∂θ a residual r causes
  Vector<T> rounding;         ///< ε_T |Σ∂E/∂θ(s⁰)| per entry: the rounding of one Hebbian difference
};

namespace detail {

/// Relaxes `s` with `sys` for a check, to `needed` unless the user's relaxation is imposed.
template <class Sys>
CheckedPhase relax_for_check(const Sys& sys, Matrix<typename Sys::Scalar>& s, double needed, bool nudged,
                             const VerificationRelax& r) {
  RelaxOptions o = r.from_config ? (nudged ? r.config_nudged : r.config_free) : r.method;
  require<InvalidOptions>(!is_langevin(o.method), "gradcheck needs deterministic relaxations; relax.",
                          nudged ? "nudged" : "free", ".method = ", to_string(o.method), " samples");
  if (!r.from_config) o.grad_tol = needed;
  CheckedPhase p;
  p.needed = needed;
  p.summary = relax(sys, s, o, 0);
  return p;
}

/// Mᵀ H⁻¹ r for the residual r of `sys` at `s`: how far the Hebbian term Σ∂E/∂θ(s) sits from its
/// value at the exact fixed point, to first order. +∞ everywhere when H cannot be solved there
/// (no strict minimum: nothing bounds the error).
template <class M, class Sys>
Vector<typename M::Scalar> residual_effect(const M& model, const Sys& sys, const Matrix<typename M::Scalar>& s,
                                           ConstRef<typename M::Scalar> x) {
  using T = typename M::Scalar;
  Matrix<T> r(s.rows(), s.cols());
  sys.gradient(s, r);
  Vector<T> g(model.params().size());
  if (r.norm() == T(0)) return Vector<T>::Zero(g.size());
  try {
    ExactGradientOptions o;
    o.cg_tol = 1e-6;  // a first-order estimate of an error: a few digits suffice
    const Matrix<T> e = solve_adjoint(model, s, x, r, o);
    model.mixed_vector(s, x, e, g);
  } catch (const Error&) {
    g.setConstant(std::numeric_limits<T>::infinity());
  }
  return g;
}

}  // namespace detail

/// Relaxes the free phase of a check from zero to `needed` (see needed_residual()).
template <class M, class C>
  requires EnergyModel<M> && HasSecondOrder<M>
FreePoint<typename M::Scalar> free_point(const M& model, ConstRef<typename M::Scalar> x,
                                         ConstRef<typename M::Scalar> target, const C& cost, double needed,
                                         const VerificationRelax& r) {
  using T = typename M::Scalar;
  FreePoint<T> f;
  f.s = Matrix<T>::Zero(model.state_size(), x.cols());
  FreeSystem free(model, x);
  f.phase = detail::relax_for_check(free, f.s, needed, false, r);
  f.cost_gradient_scale =
      double(detail::cost_state_gradient(model, f.s, target, cost).norm()) / std::sqrt(double(x.cols()));
  f.residual_effect = detail::residual_effect(model, free, f.s, x);
  Vector<T> g(model.params().size());
  model.param_gradient(f.s, x, g);
  f.rounding = std::numeric_limits<T>::epsilon() * g.cwiseAbs();
  return f;
}

/// The scale of ‖∂C/∂s‖ at the zero state, before any relaxation (to derive the free phase's
/// tolerance, which must be set before s⁰ exists).
template <class M, class C>
double cost_gradient_scale_at(const M& model, const Matrix<typename M::Scalar>& s,
                              ConstRef<typename M::Scalar> target, const C& cost) {
  return double(detail::cost_state_gradient(model, s, target, cost).norm()) / std::sqrt(double(s.cols()));
}

/// EP at one β from a free point: the one-sided estimates at +β and −β and the symmetric one, each
/// with its residual and error floor.
template <class T>
struct EPPoint {
  double beta = 0;
  Vector<T> plus, minus, symmetric;
  EstimateDiagnostics<T> plus_diag, minus_diag, symmetric_diag;
  CheckedPhase plus_phase, minus_phase;
};

/// Relaxes s^{±β} from s⁰ to the residual the symmetric estimate needs (the stricter one: the same
/// phases serve the one-sided ones) and forms the three estimates.
template <class M, class C>
  requires EnergyModel<M> && HasSecondOrder<M>
EPPoint<typename M::Scalar> ep_point(const M& model, ConstRef<typename M::Scalar> x,
                                     ConstRef<typename M::Scalar> target, const C& cost,
                                     const FreePoint<typename M::Scalar>& f, double beta, const VerificationRelax& r) {
  using T = typename M::Scalar;
  EPPoint<T> p;
  p.beta = beta;
  FreeSystem free(model, x);
  NudgedSystem<M, C> nudged(free, target, T(beta), cost);
  const double needed = needed_residual(beta, 2, f.cost_gradient_scale, r);
  Matrix<T> s_plus = f.s, s_minus = f.s;
  p.plus_phase = detail::relax_for_check(nudged, s_plus, needed, true, r);
  const Vector<T> effect_plus = detail::residual_effect(model, nudged, s_plus, x);
  nudged.set_beta(T(-beta));
  p.minus_phase = detail::relax_for_check(nudged, s_minus, needed, true, r);
  const Vector<T> effect_minus = detail::residual_effect(model, nudged, s_minus, x);

  const Index n = model.params().size();
  Vector<T> hebbian_plus(n), hebbian_minus(n);
  detail::param_gradient_difference(model, s_plus, f.s, x, hebbian_plus);
  detail::param_gradient_difference(model, f.s, s_minus, x, hebbian_minus);
  const T b = T(beta);
  p.plus = hebbian_plus / b;
  p.minus = hebbian_minus / b;
  p.symmetric = (hebbian_plus + hebbian_minus) / (2 * b);
  // Floors: the first-order error the residuals cause, with the signs the differences give them
  // (two relaxations that approach along the same slow mode leave errors that largely cancel in a
  // difference, which a sum of norms would overstate), and the rounding of the two Hebbian terms
  // (u|∂E/∂θ| each, u = ε/2 the unit roundoff, adding in quadrature: about ε|∂E/∂θ| per difference;
  // a worst-case 4ε hid the clean second order of a small first-layer gradient below its "floor").
  const double worst_plus = std::max(p.plus_phase.summary.final_grad_norm, f.phase.summary.final_grad_norm);
  const double worst_minus = std::max(p.minus_phase.summary.final_grad_norm, f.phase.summary.final_grad_norm);
  p.plus_diag = {worst_plus, {(effect_plus - f.residual_effect) / b, f.rounding / b}};
  p.minus_diag = {worst_minus, {(f.residual_effect - effect_minus) / b, f.rounding / b}};
  p.symmetric_diag = {std::max(p.plus_phase.summary.final_grad_norm, p.minus_phase.summary.final_grad_norm),
                      {(effect_plus - effect_minus) / (2 * b), f.rounding / (2 * b)}};
  return p;
}

/// The estimator names of the three EP rows.
inline constexpr const char* kEpPlus = "ep_one_sided";
inline constexpr const char* kEpMinus = "ep_one_sided_negative_beta";
inline constexpr const char* kEpSymmetric = "ep_symmetric";

/// Adds the three estimates of `p` to `checker` (setting "beta").
template <class T>
void add_ep_point(GradientChecker<T>& checker, const EPPoint<T>& p) {
  checker.add(kEpPlus, p.plus, "beta", p.beta, p.plus_diag);
  checker.add(kEpMinus, p.minus, "beta", p.beta, p.minus_diag);
  checker.add(kEpSymmetric, p.symmetric, "beta", p.beta, p.symmetric_diag);
}

/// The default sweep: from a β whose one-sided bias is clearly measurable (`top_error`, 5 % by
/// default, estimated from the error `pilot_error` at `pilot_beta` since that bias is linear in β)
/// down by halvings. Clamped to [1e-3, 0.5]·2^… so that a degenerate pilot cannot ask for β = 0.
inline std::vector<double> default_beta_sweep(double pilot_beta, double pilot_error, std::size_t points = 6,
                                              double top_error = 0.05) {
  double top = pilot_error > 0 && std::isfinite(pilot_error) ? top_error * pilot_beta / pilot_error : 0.1;
  top = std::clamp(top, 1e-3, 0.5);
  std::vector<double> betas;
  for (std::size_t i = 0; i < points; ++i) betas.push_back(top / double(1u << i));
  return betas;
}

}  // namespace ebm
