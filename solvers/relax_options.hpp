#pragma once
/// \file
/// Options of a deterministic relaxation, with documented defaults and validation.

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

#include <array>
#include <tuple>
#include <utility>

#include "core/error.hpp"
#include "core/fields.hpp"

namespace ebm {

/// How the state moves towards a minimum of F (deterministic methods, ebm::relax), or samples
/// around one at a temperature (Langevin methods, ebm::langevin; run_phase() picks the solver).
enum class Method {
  euler,        ///< gradient flow ds/dt = −∂F/∂s, explicit Euler, fixed step `dt`
  rk4,          ///< gradient flow, classical Runge–Kutta, fixed step `dt`
  dopri5,       ///< gradient flow, Dormand–Prince 5(4) with step control (`abs_tol`, `rel_tol`)
  fixed_point,  ///< discrete update s ← P(s − ε ∂F/∂s), ε = `dt`, P the model's projection
  ula,          ///< Langevin, Euler–Maruyama at `temperature`: s ← s − h∂F/∂s + √(2Th) ξ
  mala,         ///< Langevin, ULA proposals with Metropolis–Hastings acceptance (exact invariant law)
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

template <>
struct EnumNames<Method> {
  static constexpr std::array<std::pair<Method, std::string_view>, 6> values{
      {{Method::euler, "euler"},
       {Method::rk4, "rk4"},
       {Method::dopri5, "dopri5"},
       {Method::fixed_point, "fixed_point"},
       {Method::ula, "ula"},
       {Method::mala, "mala"}}};
};
template <>
struct EnumNames<Schedule> {
  static constexpr std::array<std::pair<Schedule, std::string_view>, 2> values{
      {{Schedule::synchronous, "synchronous"}, {Schedule::alternating, "alternating"}}};
};
template <>
struct EnumNames<OnDivergence> {
  static constexpr std::array<std::pair<OnDivergence, std::string_view>, 2> values{
      {{OnDivergence::throw_error, "throw"}, {OnDivergence::stop, "stop"}}};
};

/// How the temperature of a Langevin run moves from `anneal_from` to `temperature`
/// over its steps (simulated annealing of the free phase's burn-in: hot chains mix, the last
/// steps sample at the target temperature).
enum class Anneal {
  none,       ///< every step at `temperature`
  linear,     ///< T_k = T₀ + (T − T₀)·(k+1)/n for step k of n
  geometric,  ///< T_k = T₀^{1−f}·T^f, f = (k+1)/n
};

template <>
struct EnumNames<Anneal> {
  static constexpr std::array<std::pair<Anneal, std::string_view>, 3> values{
      {{Anneal::none, "none"}, {Anneal::linear, "linear"}, {Anneal::geometric, "geometric"}}};
};

/// The temperature of step k (0-based) of n under an annealing schedule from t0 to t.
inline double annealed_temperature(Anneal a, double t0, double t, long k, long n) {
  if (a == Anneal::none || n <= 0) return t;
  const double f = std::min(1.0, double(k + 1) / double(n));
  return a == Anneal::linear ? t0 + (t - t0) * f : std::pow(t0, 1.0 - f) * std::pow(t, f);
}

inline std::string_view to_string(Method m) { return enum_name(m); }
inline std::string_view to_string(Schedule s) { return enum_name(s); }

/// Langevin methods sample at a temperature instead of descending to a minimum.
inline bool is_langevin(Method m) { return m == Method::ula || m == Method::mala; }

inline Method parse_method(std::string_view name) {
  try {
    return parse_enum<Method>(name);
  } catch (const InvalidOptions&) {
    throw InvalidOptions("unknown relaxation method '" + std::string(name) + "' (expected " +
                         enum_choices<Method>() + ")");
  }
}
inline Schedule parse_schedule(std::string_view name) {
  try {
    return parse_enum<Schedule>(name);
  } catch (const InvalidOptions&) {
    throw InvalidOptions("unknown schedule '" + std::string(name) + "' (expected synchronous or alternating)");
  }
}

/// Options of one phase: ebm::relax for the deterministic methods; for ula and mala, ebm::langevin
/// with `temperature`, step `dt` and `max_steps` steps (run_phase, solvers/phase.hpp).
/// A deterministic relaxation stops at the first of: every example's ‖∂F/∂s‖₂ below `grad_tol`
/// (converged), time `t_max` reached, `max_steps` tries made.
struct RelaxOptions {
  Method method = Method::rk4;
  /// Step of euler and rk4; first trial step of dopri5; update rate ε of fixed_point; step h of ula and mala.
  double dt = 0.1;
  /// Time horizon (fixed_point counts ε per sweep).
  double t_max = 1e4;
  /// Step budget: accepted plus rejected steps (ula, mala: the number of steps).
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
  /// fixed_point: heavy-ball momentum μ in [0, 1). Each update becomes v ← μ·v − ε ∂F/∂s,
  /// s ← P(s + v) (v then the step actually taken), and an example whose v points uphill
  /// (∂F/∂s · v > 0) restarts from v = 0 (O'Donoghue & Candès 2015). The fixed points are the
  /// plain iteration's; a slow mode of rate 1 − h converges at about 1 − √h instead (Polyak 1964),
  /// which is what a conv net's free phase needs once its weights have grown (README).
  double momentum = 0.0;
  /// Stop (Termination::stalled) once the residual has not fallen by 1% for this many steps;
  /// 0 never does. A relaxation of an energy that is not differentiable at its minimum (max
  /// pooling over states, whose argmax switches back and forth at a tie) chatters at a residual it
  /// never leaves, and would otherwise spend its whole budget there.
  long stall_steps = 0;
  /// A state entry beyond ±divergence_bound (or a non-finite one) is a divergence.
  double divergence_bound = 1e8;
  OnDivergence on_divergence = OnDivergence::throw_error;
  /// ula and mala: the temperature T of the sampled law ∝ exp(−F/T).
  double temperature = 0.01;
  /// ula and mala: the temperature moves from `anneal_from` to `temperature` over the phase's steps.
  Anneal anneal = Anneal::none;
  double anneal_from = 1.0;

  static constexpr auto fields() {
    using R = RelaxOptions;
    return std::tuple{
        field("method", &R::method, "euler, rk4, dopri5, fixed_point (deterministic) or ula, mala (Langevin)"),
        field("dt", &R::dt, "step of euler, rk4, ula, mala; first step of dopri5; rate of fixed_point", positive),
        field("t_max", &R::t_max, "time horizon", positive),
        field("max_steps", &R::max_steps, "step budget (ula, mala: the number of steps)", positive),
        field("grad_tol", &R::grad_tol, "converged when every example's max |dF/ds| (projected) is below; 0 = never",
              non_negative),
        field("abs_tol", &R::abs_tol, "dopri5 absolute error tolerance", non_negative),
        field("rel_tol", &R::rel_tol, "dopri5 relative error tolerance", non_negative),
        field("max_dt", &R::max_dt, "dopri5 largest step (0 = unbounded)", non_negative),
        field("schedule", &R::schedule, "fixed_point layer order: synchronous or alternating"),
        field("momentum", &R::momentum,
              "fixed_point heavy-ball momentum in [0, 1), restarted per example when it points uphill (0 = off)",
              checks::InRange{0, 1}),
        field("stall_steps", &R::stall_steps,
              "stop once max |dF/ds| has not fallen by 1% for this many steps (0 = never)", non_negative),
        field("divergence_bound", &R::divergence_bound, "a state entry beyond this is a divergence", positive),
        field("on_divergence", &R::on_divergence, "throw (an error naming step and unit) or stop"),
        field("temperature", &R::temperature, "ula, mala: temperature T of the law exp(-F/T)", positive),
        field("anneal", &R::anneal, "ula, mala: none, linear or geometric, from anneal_from to temperature over the steps"),
        field("anneal_from", &R::anneal_from, "ula, mala: the first step's temperature when annealing", positive),
    };
  }

  /// True when every field is usable; otherwise `why` names the first bad field, prefixed by
  /// `prefix` (the config section: "relax.free.").
  bool is_valid(std::string* why = nullptr, std::string_view prefix = "relax.") const {
    if (!check_fields(*this, prefix, why)) return false;
    auto bad = [&](auto&&... parts) {
      std::ostringstream w;
      (w << ... << parts);
      if (why) *why = w.str();
      return false;
    };
    if (method == Method::dopri5 && abs_tol + rel_tol <= 0)
      return bad(prefix, "abs_tol and ", prefix, "rel_tol must not both be 0 for dopri5");
    if (method != Method::fixed_point && schedule != Schedule::synchronous)
      return bad(prefix, "schedule = alternating applies to method fixed_point only, not ", to_string(method));
    if (method != Method::fixed_point && momentum != 0)
      return bad(prefix, "momentum applies to method fixed_point only, not ", to_string(method));
    return true;
  }

  /// Throws ebm::InvalidOptions naming the bad field.
  void validate(std::string_view prefix = "relax.") const {
    std::string why;
    if (!is_valid(&why, prefix)) throw InvalidOptions(why);
  }
};

}  // namespace ebm
