#pragma once
/// \file
/// Options of a deterministic relaxation, with documented defaults and validation.

#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ebm {

/// How the state moves towards a minimum of F.
enum class Method {
  euler,        ///< gradient flow ds/dt = −∂F/∂s, explicit Euler, fixed step `dt`
  rk4,          ///< gradient flow, classical Runge–Kutta, fixed step `dt`
  dopri5,       ///< gradient flow, Dormand–Prince 5(4) with step control (`abs_tol`, `rel_tol`)
  fixed_point,  ///< discrete update s ← P(s − ε ∂F/∂s), ε = `dt`, P the model's projection
};

/// Order of the discrete fixed-point update across layers.
enum class Schedule {
  synchronous,  ///< every layer from the same old state (Jacobi)
  alternating,  ///< even layers first, then odd layers from the new even ones (the usual EP sweep)
};

/// What a detected divergence (a non-finite or exploding state) does.
enum class OnDivergence {
  throw_error,  ///< throw ebm::DivergenceError naming the step, example, layer and unit
  stop,         ///< stop, restore the last finite state and report it in the summary
};

inline std::string_view to_string(Method m) {
  switch (m) {
    case Method::euler: return "euler";
    case Method::rk4: return "rk4";
    case Method::dopri5: return "dopri5";
    case Method::fixed_point: return "fixed_point";
  }
  return "?";
}
inline std::string_view to_string(Schedule s) {
  return s == Schedule::synchronous ? "synchronous" : "alternating";
}

inline Method parse_method(std::string_view name) {
  for (Method m : {Method::euler, Method::rk4, Method::dopri5, Method::fixed_point})
    if (name == to_string(m)) return m;
  throw InvalidOptions("unknown relaxation method '" + std::string(name) +
                       "' (expected euler, rk4, dopri5 or fixed_point)");
}
inline Schedule parse_schedule(std::string_view name) {
  if (name == "synchronous") return Schedule::synchronous;
  if (name == "alternating") return Schedule::alternating;
  throw InvalidOptions("unknown schedule '" + std::string(name) + "' (expected synchronous or alternating)");
}

/// Options of ebm::relax. A relaxation stops at the first of: every example's
/// ‖∂F/∂s‖₂ below `grad_tol` (converged), time `t_max` reached, `max_steps` tries made.
struct RelaxOptions {
  Method method = Method::rk4;
  /// Step of euler and rk4; first trial step of dopri5; update rate ε of fixed_point.
  double dt = 0.1;
  /// Time horizon (fixed_point counts ε per sweep).
  double t_max = 1e4;
  /// Step budget: accepted plus rejected steps.
  long max_steps = 100000;
  /// Converged when every example of the batch has ‖∂F/∂s‖₂ < grad_tol (for a model whose states
  /// live in a box, the projected-gradient residual ‖s − P(s − ∂F/∂s)‖₂). 0 disables the test.
  double grad_tol = 1e-8;
  /// dopri5 error control: per unit, |err| ≤ abs_tol + rel_tol·(|s| + dt·|ds/dt|).
  /// Near a fixed point dopri5 runs at its stability limit and holds its local error at this
  /// level, so ‖∂F/∂s‖ settles near ‖∂²F/∂s²‖·(abs_tol + rel_tol·|s|): keep these well below
  /// grad_tol or the relaxation stalls at the time horizon (the summary then says so).
  double abs_tol = 1e-12;
  double rel_tol = 1e-10;
  /// dopri5 largest step; 0 leaves it unbounded.
  double max_dt = 0.0;
  /// Layer order of the fixed-point update.
  Schedule schedule = Schedule::synchronous;
  /// A state entry beyond ±divergence_bound (or a non-finite one) is a divergence.
  double divergence_bound = 1e8;
  OnDivergence on_divergence = OnDivergence::throw_error;

  /// True when every field is usable; otherwise `why` names the first bad field.
  bool is_valid(std::string* why = nullptr) const {
    std::ostringstream w;
    auto bad = [&](auto&&... parts) {
      (w << ... << parts);
      if (why) *why = w.str();
      return false;
    };
    if (!(std::isfinite(dt) && dt > 0)) return bad("relax.dt must be a positive finite number, got ", dt);
    if (!(t_max > 0)) return bad("relax.t_max must be positive, got ", t_max);
    if (max_steps <= 0) return bad("relax.max_steps must be positive, got ", max_steps);
    if (!(grad_tol >= 0 && std::isfinite(grad_tol)))
      return bad("relax.grad_tol must be finite and ≥ 0, got ", grad_tol);
    if (method == Method::dopri5) {
      if (!(abs_tol >= 0 && rel_tol >= 0 && abs_tol + rel_tol > 0))
        return bad("relax.abs_tol and relax.rel_tol must be ≥ 0 and not both 0, got ", abs_tol, " and ", rel_tol);
      if (!(max_dt >= 0)) return bad("relax.max_dt must be ≥ 0 (0 = unbounded), got ", max_dt);
    }
    if (!(divergence_bound > 0)) return bad("relax.divergence_bound must be positive, got ", divergence_bound);
    if (method != Method::fixed_point && schedule != Schedule::synchronous)
      return bad("relax.schedule = alternating applies to method fixed_point only, not ", to_string(method));
    return true;
  }

  /// Throws ebm::InvalidOptions naming the bad field.
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

}  // namespace ebm
