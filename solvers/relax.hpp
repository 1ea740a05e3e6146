#pragma once
/// \file
/// ebm::relax — move a batch of states to a minimum of its energy F.
///
/// \code
/// ebm::LayeredHopfield<double> net({4, 8, 2}, ebm::Activation::Kind::tanh);
/// ebm::FreeSystem free(net, x);
/// ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), x.cols());
/// ebm::RelaxOptions options;  options.method = ebm::Method::dopri5;
/// ebm::TraceRecorder<double> trace;
/// ebm::RelaxSummary summary = ebm::relax(free, s, options, trace);
/// std::cout << summary.brief_report() << '\n';
/// \endcode

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <tuple>

#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/fused_sweep.hpp"
#include "core/magnitude_scan.hpp"
#include "solvers/odeint_eigen.hpp"
#include "solvers/relax_options.hpp"
#include "solvers/summary.hpp"
#include "solvers/trace.hpp"

namespace ebm {

namespace detail {

/// The gradient flow as an odeint system: dsdt = −∂F/∂s. Counts its evaluations.
template <class Sys>
struct GradientFlow {
  const Sys& sys;
  long* evaluations;
  template <class State>
  void operator()(const State& s, State& dsdt, double /*t*/) const {
    sys.gradient(s, dsdt);
    dsdt = -dsdt;
    ++*evaluations;
  }
};

template <class T>
double max_column_norm(const Matrix<T>& g) {
  return g.cols() == 0 ? 0.0 : double(g.colwise().norm().maxCoeff());
}

/// Index of the free layer containing `row`.
inline std::size_t layer_of(const std::vector<Block>& layers, Index row) {
  for (std::size_t k = 0; k < layers.size(); ++k)
    if (row >= layers[k].offset && row < layers[k].offset + layers[k].size) return k;
  return 0;
}

/// Empty when s is finite and bounded, otherwise a sentence saying where it is not (`what` names
/// the quantity: "state", or "energy gradient" for ∂F/∂s).
template <class T>
std::string find_divergence(const Matrix<T>& s, const std::vector<Block>& layers, double bound,
                            Index first_example, const char* what = "state", DivergenceSite* site = nullptr) {
  // One vectorised pass (core/magnitude_scan.hpp); the slow search below runs only when
  // something is wrong. (An infinite entry must fail too when the bound itself is infinite, as
  // for the gradient: magnitude_limit caps the bound at T's largest finite value.)
  if (all_within(s, magnitude_limit<T>(bound))) return {};
  for (Index j = 0; j < s.cols(); ++j)
    for (Index i = 0; i < s.rows(); ++i) {
      const double v = double(s(i, j));
      if (std::isfinite(v) && std::abs(v) <= bound) continue;
      const std::size_t k = layer_of(layers, i);
      if (site) {
        site->example = long(first_example + j);
        site->layer = long(k + 1);
        site->unit = long(i - layers[k].offset);
        site->value = v;
      }
      std::ostringstream o;
      o << "example " << first_example + j << ", layer " << k + 1 << ", unit " << i - layers[k].offset
        << " has " << what << ' ' << v << (std::isfinite(v) ? " beyond the divergence bound " : "");
      if (std::isfinite(v)) o << bound;
      return o.str();
    }
  return {};  // every entry within the bound (the fast check's limit rounded it down to a T)
}

/// True when the system keeps its states in a box (a model with a projection, such as the
/// hard sigmoid's [0, 1]): euler and fixed_point then project after each step, which makes
/// the gradient flow a projected gradient flow (Scellier & Bengio 2017 clip the same way).
template <class Sys>
bool projects(const Sys& sys) {
  if constexpr (requires { sys.projects(); }) return sys.projects();
  else return false;
}

/// Applies the system's projection, if it has one (see HasProjection).
template <class Sys, class State>
void project(const Sys& sys, State& s) {
  if constexpr (requires { sys.project(s); })
    if (sys.projects()) sys.project(s);
}

/// True when every entry is finite: one vectorised pass (core/magnitude_scan.hpp).
template <class Derived>
bool all_finite(const Eigen::DenseBase<Derived>& m) {
  return all_within(m, std::numeric_limits<typename Derived::Scalar>::max());
}

/// The synchronous fixed-point step s ← P(s − dt·g), g ← ∂F/∂s(s) in one pass, where the system
/// fuses them (FreeSystem::projected_step); refused where it does not, and nothing is touched.
template <class Sys, class State, class T>
FusedStep fused_projected_step(const Sys& sys, State& s, State& g, T dt, double bound) {
  if constexpr (requires { sys.projected_step(s, g, dt, bound); })
    return sys.projected_step(s, g, dt, bound);
  else
    return FusedStep::refused;
}

/// The stationarity measure: the largest over the examples of ‖∂F/∂s‖₂, or for a projected
/// system of the projected-gradient residual ‖s − P(s − ∂F/∂s)‖₂, which vanishes exactly at
/// a constrained minimum (a unit pinned at the edge of its box by a gradient pointing out).
/// `flow` holds `sign`·∂F/∂s (sign −1: the ODE methods' ds/dt; +1: the gradient itself);
/// `work` is scratch space.
template <class Sys, class T>
double stationarity(const Sys& sys, const Matrix<T>& s, const Matrix<T>& flow, T sign, Matrix<T>& work) {
  if (!projects(sys)) return max_column_norm(flow);
  double lo = 0, hi = 0;
  if constexpr (requires { sys.clip_range(lo, hi); }) {
    // A box: the three steps below in one pass over the batch, each entry formed by the same
    // operations (a training relaxation that stops at its tolerance measures this every step;
    // three passes were 5% of the main job's epoch).
    if (sys.clip_range(lo, hi)) {
      work = ((s - sign * flow).array().max(T(lo)).min(T(hi)) - s.array()).matrix();
      return max_column_norm(work);
    }
  }
  work = s - sign * flow;
  project(sys, work);
  work -= s;
  return max_column_norm(work);
}

/// Heavy-ball momentum: an example (column) whose velocity points uphill, ∂F/∂s · v > 0, drops
/// it. Per example, so a batch relaxes exactly as its examples would one by one (and so the same
/// for any split into chunks).
template <class T>
void restart_uphill(const Matrix<T>& g, Matrix<T>& v) {
  for (Index j = 0; j < v.cols(); ++j)
    if (g.col(j).dot(v.col(j)) > T(0)) v.col(j).setZero();
}

/// The box the system's projection clips to, [−∞, ∞] where it has none: false where it projects
/// some other way (then relax projects it separately).
template <class Sys>
bool clip_box(const Sys& sys, double& lo, double& hi) {
  if (!projects(sys)) {
    lo = -std::numeric_limits<double>::infinity();
    hi = std::numeric_limits<double>::infinity();
    return true;
  }
  if constexpr (requires { sys.clip_range(lo, hi); }) return sys.clip_range(lo, hi);
  else return false;
}

/// The heavy-ball step of rows [begin, begin + n) in one pass per example, for a box projection:
/// y ← clip(s + (μ·v − ε·g), lo, hi), v ← y − s, s ← y; with `restart`, first restart_uphill's
/// test on those rows (all of them, for the synchronous schedule), while the column is in cache.
template <class T>
void heavy_ball_box_rows(Matrix<T>& s, const Matrix<T>& g, Matrix<T>& v, Index begin, Index n, T mu, T eps,
                         double lo, double hi, bool restart) {
  const T l = std::isinf(lo) ? -std::numeric_limits<T>::infinity() : T(lo);
  const T h = std::isinf(hi) ? std::numeric_limits<T>::infinity() : T(hi);
  for (Index j = 0; j < s.cols(); ++j) {
    if (restart && g.col(j).segment(begin, n).dot(v.col(j).segment(begin, n)) > T(0))
      v.col(j).segment(begin, n).setZero();
    T* __restrict sj = s.col(j).data() + begin;
    T* __restrict vj = v.col(j).data() + begin;
    const T* __restrict gj = g.col(j).data() + begin;
    for (Index i = 0; i < n; ++i) {
      T y = sj[i] + (mu * vj[i] - eps * gj[i]);
      y = y < l ? l : y;  // a NaN stays a NaN, for the divergence check to name
      y = y > h ? h : y;
      vj[i] = y - sj[i];
      sj[i] = y;
    }
  }
}

/// Rows [begin, begin + n) of the heavy-ball update before projection: previous ← s,
/// s ← s + μ·v − ε·g.
template <class T>
void heavy_ball_rows(Matrix<T>& s, const Matrix<T>& g, const Matrix<T>& v, Matrix<T>& previous, Index begin,
                     Index n, T mu, T eps) {
  if (previous.rows() != s.rows() || previous.cols() != s.cols()) previous.resize(s.rows(), s.cols());
  previous.middleRows(begin, n) = s.middleRows(begin, n);
  s.middleRows(begin, n) += mu * v.middleRows(begin, n) - eps * g.middleRows(begin, n);
}

/// After the projection: the velocity is the step actually taken, v ← s − previous, so that
/// momentum never pushes a unit further into the wall of its box.
template <class T>
void taken_rows(const Matrix<T>& s, Matrix<T>& v, const Matrix<T>& previous, Index begin, Index n) {
  v.middleRows(begin, n) = s.middleRows(begin, n) - previous.middleRows(begin, n);
}

}  // namespace detail

/// Relaxes the batch `s` (state_size × batch, updated in place) towards a minimum of
/// `sys`'s energy F, by the method of `options`; observers see the steps they ask for.
/// `first_example` is the batch index of column 0 (used in messages when a batch is split).
///
/// Throws ebm::InvalidOptions for bad options, ebm::DimensionMismatch for a state of the
/// wrong shape, and (unless options.on_divergence is `stop`) ebm::DivergenceError.
template <Relaxable Sys, class... Obs>
  requires(Observer<Obs, typename Sys::Scalar> && ...)
RelaxSummary relax(const Sys& sys, Matrix<typename Sys::Scalar>& s, const RelaxOptions& options,
                   Index first_example, Obs&... observers) {
  namespace odeint = boost::numeric::odeint;
  using T = typename Sys::Scalar;
  using State = Matrix<T>;
  options.validate();
  require<InvalidOptions>(!is_langevin(options.method), "relax.method = ", to_string(options.method),
                          " is a Langevin method: it samples at a temperature rather than relaxing to a minimum; "
                          "call ebm::langevin, or ebm::run_phase which picks the solver");
  if (detail::projects(sys))
    // A clipped ρ has a derivative that jumps at the edges of its box: higher-order steps straddle the
    // jump and their error estimates never settle (seen: rk4 stalls, dopri5 shrinks its step to 1e-8).
    require<InvalidOptions>(options.method == Method::euler || options.method == Method::fixed_point,
                            "relax.method = ", to_string(options.method),
                            " needs a smooth energy, but this model clips its states to a box (hard sigmoid); "
                            "use euler or fixed_point, or a smooth activation (logistic, tanh)");
  require<DimensionMismatch>(s.rows() == sys.state_size(), "state has ", s.rows(), " rows but the system has ",
                             sys.state_size(), " free units");
  const std::vector<Block> layers = sys.layer_blocks();
  {
    DivergenceSite site;
    const std::string where = detail::find_divergence(s, layers, options.divergence_bound, first_example, "state", &site);
    if (!where.empty()) {
      site.step = 0;
      throw DivergenceError("initial state is unusable: " + where, site);
    }
  }

  const auto start = std::chrono::steady_clock::now();
  RelaxSummary summary;
  summary.method = options.method;
  summary.examples = long(s.cols());
  detail::GradientFlow<Sys> flow{sys, &summary.gradient_evaluations};

  // The ODE methods (odeint's rk4 and dopri5) work with ds/dt = −∂F/∂s; euler and fixed_point
  // step along the gradient itself, which saves a pass over the batch per step.
  const bool ode = options.method == Method::rk4 || options.method == Method::dopri5;
  const T sign = ode ? T(-1) : T(1);
  State dsdt(s.rows(), s.cols());  // sign·∂F/∂s at s, kept current after every step
  State work;
  auto evaluate = [&](double t_now) {
    if (ode) {
      flow(s, dsdt, t_now);
    } else {
      sys.gradient(s, dsdt);
      ++summary.gradient_evaluations;
    }
  };
  // The first gradient. Where the system has a fused fixed-point step, that step with dt = 0 from a
  // zero gradient is project() then gradient() in one pass, bit for bit (s − 0·0 = s): measured
  // on a 784-512-10 chunk of 25 examples, 6 µs against 23 µs for the two step by step, which a
  // training relaxation of 10 steps pays once.
  bool first_fused = false;
  if (!ode) {
    dsdt.setZero();
    first_fused = detail::fused_projected_step(sys, s, dsdt, T(0), options.divergence_bound) != FusedStep::refused;
    if (first_fused) ++summary.gradient_evaluations;
  }
  if (!first_fused) {
    detail::project(sys, s);
    evaluate(0.0);
  }
  // The stationarity measure costs a pass over the batch: compute it when the stopping test or an
  // observer needs it, and once at the end (a fixed step budget, as in EP training, skips the rest).
  double residual = 0;
  bool residual_current = false;
  auto current_residual = [&]() {
    if (!residual_current) residual = detail::stationarity(sys, s, dsdt, sign, work), residual_current = true;
    return residual;
  };
  State last_good;
  if (options.on_divergence == OnDivergence::stop) last_good = s;
  State velocity, previous;  // fixed_point with momentum: the last step taken, the state before it

  double t = 0.0;
  double dt = options.dt;
  double last_dt = 0.0;
  long step = 0;
  long tries = 0;
  double stall_best = std::numeric_limits<double>::infinity();  // the residual to beat by 1%, since step stall_since
  long stall_since = 0;

  auto observe = [&]() -> bool {
    const bool any = (observers.wants(step, t) || ...);
    if (!any) return false;
    TracePoint<T> p;
    p.step = step;
    p.t = t;
    p.dt = last_dt;
    p.energy = double(sys.energy(s).mean());
    p.grad_norm = current_residual();
    p.state = &s;
    p.layers = &layers;
    bool stop = false;
    ((observers.wants(step, t) ? (stop = observers.observe(p) || stop) : stop), ...);
    return stop;
  };
  auto next_observer_time = [&]() {
    double next = std::numeric_limits<double>::infinity();
    [[maybe_unused]] auto one = [&](auto& o) {
      if constexpr (requires { o.next_time(t); }) next = std::min(next, double(o.next_time(t)));
    };
    (one(observers), ...);
    return next;
  };

  odeint::runge_kutta4<State, T, State, T, odeint::vector_space_algebra> rk4;
  using Dopri = odeint::runge_kutta_dopri5<State, T, State, T, odeint::vector_space_algebra>;
  using Controlled = odeint::controlled_runge_kutta<Dopri>;
  Controlled dopri(
      typename Controlled::error_checker_type(T(options.abs_tol), T(options.rel_tol)),
      typename Controlled::step_adjuster_type(options.max_dt > 0 ? T(options.max_dt) : T(0)));
  dopri.reset();  // first-same-as-last: never carry a derivative over from another relaxation

  const double t_eps = 1e-12 * std::max(1.0, options.t_max);
  bool stopped = observe();
  if (stopped) summary.termination = Termination::stopped_by_observer;
  while (!stopped) {
    if (options.grad_tol > 0 && current_residual() < options.grad_tol) {
      summary.termination = Termination::converged;
      break;
    }
    if (options.stall_steps > 0) {
      const double r = current_residual();
      if (r < 0.99 * stall_best) {
        stall_best = r;
        stall_since = step;
      } else if (step - stall_since >= options.stall_steps) {
        summary.termination = Termination::stalled;
        break;
      }
    }
    if (t >= options.t_max - t_eps) {
      summary.termination = Termination::time_horizon;
      break;
    }
    if (tries >= options.max_steps) {
      summary.termination = Termination::step_budget;
      break;
    }
    ++tries;
    bool checked = false;
    switch (options.method) {
      case Method::euler: {  // s ← P(s − h ∂F/∂s), h clipped to the horizon
        last_dt = std::min(dt, options.t_max - t);
        s -= T(last_dt) * dsdt;
        t += last_dt;
        detail::project(sys, s);
        evaluate(t);
        break;
      }
      case Method::rk4: {
        last_dt = std::min(dt, options.t_max - t);
        rk4.do_step(std::cref(flow), s, dsdt, T(t), T(last_dt));
        t += last_dt;
        evaluate(t);
        break;
      }
      case Method::dopri5: {
        // Land exactly on the horizon and on the times observers asked for.
        T trial = T(std::min({dt, options.t_max - t, std::max(next_observer_time() - t, 1e-300)}));
        T tt = T(t);
        const T before = trial;
        if (dopri.try_step(std::cref(flow), s, dsdt, tt, trial) == odeint::fail) {
          ++summary.steps_rejected;
          dt = double(trial);
          continue;
        }
        last_dt = double(before);
        t = double(tt);
        dt = double(trial);
        break;
      }
      case Method::fixed_point: {
        last_dt = dt;
        if (options.momentum > 0) {
          if (velocity.size() == 0) velocity = State::Zero(s.rows(), s.cols());
          const T mu = T(options.momentum);
          double lo = 0, hi = 0;
          const bool box = detail::clip_box(sys, lo, hi);
          if (box && options.schedule == Schedule::synchronous) {  // one pass per example (the usual case)
            detail::heavy_ball_box_rows(s, dsdt, velocity, 0, s.rows(), mu, T(dt), lo, hi, true);
            evaluate(t);
          } else if (box) {
            detail::restart_uphill(dsdt, velocity);
            for (std::size_t parity = 0; parity < 2; ++parity) {
              for (std::size_t k = parity; k < layers.size(); k += 2)
                detail::heavy_ball_box_rows(s, dsdt, velocity, layers[k].offset, layers[k].size, mu, T(dt), lo, hi,
                                            false);
              evaluate(t);
            }
          } else if (options.schedule == Schedule::synchronous) {
            detail::restart_uphill(dsdt, velocity);
            detail::heavy_ball_rows(s, dsdt, velocity, previous, 0, s.rows(), mu, T(dt));
            detail::project(sys, s);
            detail::taken_rows(s, velocity, previous, 0, s.rows());
            evaluate(t);
          } else {
            detail::restart_uphill(dsdt, velocity);
            for (std::size_t parity = 0; parity < 2; ++parity) {
              for (std::size_t k = parity; k < layers.size(); k += 2)
                detail::heavy_ball_rows(s, dsdt, velocity, previous, layers[k].offset, layers[k].size, mu, T(dt));
              detail::project(sys, s);
              for (std::size_t k = parity; k < layers.size(); k += 2)
                detail::taken_rows(s, velocity, previous, layers[k].offset, layers[k].size);
              evaluate(t);
            }
          }
        } else if (options.schedule == Schedule::synchronous) {
          const FusedStep fused = detail::fused_projected_step(sys, s, dsdt, T(dt), options.divergence_bound);
          if (fused != FusedStep::refused) {
            ++summary.gradient_evaluations;
            checked = fused == FusedStep::stepped_checked;  // the checks below would pass
          } else {
            s -= T(dt) * dsdt;
            detail::project(sys, s);
            evaluate(t);
          }
        } else {
          for (std::size_t parity = 0; parity < 2; ++parity) {
            for (std::size_t k = parity; k < layers.size(); k += 2)
              s.middleRows(layers[k].offset, layers[k].size) -=
                  T(dt) * dsdt.middleRows(layers[k].offset, layers[k].size);
            detail::project(sys, s);
            evaluate(t);
          }
        }
        t += dt;
        break;
      }
      case Method::ula:
      case Method::mala:
        break;  // refused above
    }
    ++step;
    ++summary.steps_accepted;
    residual_current = false;
    DivergenceSite site;
    std::string where;
    if (!checked) {
      where = detail::find_divergence(s, layers, options.divergence_bound, first_example, "state", &site);
      if (where.empty())
        where = detail::find_divergence(dsdt, layers, std::numeric_limits<double>::infinity(), first_example,
                                        "energy gradient", &site);
    }
    if (!where.empty()) {
      std::ostringstream o;
      o << to_string(options.method) << " relaxation diverged at step " << step << " (t = " << t << "): " << where;
      site.step = long(step);
      site.t = t;
      if (options.on_divergence == OnDivergence::throw_error) throw DivergenceError(o.str(), site);
      summary.termination = Termination::diverged;
      summary.message = o.str();
      s = last_good;
      evaluate(t);
      residual_current = false;
      break;
    }
    if (options.on_divergence == OnDivergence::stop) last_good = s;
    if (observe()) summary.termination = Termination::stopped_by_observer, stopped = true;
  }

  current_residual();
  if (options.method == Method::dopri5 && options.grad_tol > 0 &&
      (summary.termination == Termination::time_horizon || summary.termination == Termination::step_budget) &&
      residual < 1e3 * options.grad_tol)
    summary.message = "dopri5 stalled near the fixed point: its error tolerances (relax.abs_tol, relax.rel_tol) "
                      "bound how small ‖∂F/∂s‖ gets; set them well below relax.grad_tol";
  summary.t_final = t;
  summary.final_grad_norm = residual;
  summary.final_energy = double(sys.energy(s).mean());
  summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

/// relax() for a batch that starts at example 0.
template <Relaxable Sys, class... Obs>
  requires(Observer<Obs, typename Sys::Scalar> && ...)
RelaxSummary relax(const Sys& sys, Matrix<typename Sys::Scalar>& s, const RelaxOptions& options,
                   Obs&... observers) {
  return relax(sys, s, options, Index(0), observers...);
}

}  // namespace ebm
