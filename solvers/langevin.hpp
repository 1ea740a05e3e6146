#pragma once
/// \file
/// Overdamped Langevin dynamics \f$ ds = -\partial F/\partial s\,dt + \sqrt{2T}\,dW \f$:
/// Euler–Maruyama (the unadjusted Langevin algorithm, ULA) and Metropolis-adjusted
/// Langevin (MALA). Each example draws from its own stream seeded from (seed, example
/// index), so results are the same however a batch is split across threads.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "solvers/odeint_eigen.hpp"
#include "solvers/relax.hpp"
#include "solvers/trace.hpp"

namespace ebm {

enum class LangevinMethod {
  ula,   ///< Euler–Maruyama: s ← P(s − h∂F/∂s + √(2Th) ξ), P the model's box; stationary law biased by O(h)
  mala,  ///< ULA step as a proposal, Metropolis–Hastings accept/reject: exact invariant law
};

inline std::string_view to_string(LangevinMethod m) { return m == LangevinMethod::ula ? "ula" : "mala"; }
inline LangevinMethod parse_langevin_method(std::string_view name) {
  if (name == "ula" || name == "euler_maruyama") return LangevinMethod::ula;
  if (name == "mala") return LangevinMethod::mala;
  throw InvalidOptions("unknown Langevin method '" + std::string(name) + "' (expected ula or mala)");
}

/// Options of ebm::langevin.
struct LangevinOptions {
  LangevinMethod method = LangevinMethod::ula;
  double temperature = 1.0;  ///< T > 0
  double dt = 1e-2;          ///< step h > 0
  long steps = 1000;         ///< number of steps (MALA: proposals per example)
  /// With the example index, seeds each example's noise stream. Two runs with the same seed
  /// see the same noise (common random numbers, as stochastic EP needs between its phases);
  /// a run that continues a chain needs a new seed.
  std::uint64_t seed = 0;
  double divergence_bound = 1e8;  ///< a state entry beyond this (or non-finite) is a divergence
  /// Annealing: the temperature goes from `anneal_from` to `temperature` over the steps.
  Anneal anneal = Anneal::none;
  double anneal_from = 1.0;
  /// Antithetic pairs: the column of odd example index 2i+1 uses example 2i's noise negated.
  bool antithetic = false;

  bool is_valid(std::string* why = nullptr) const {
    std::ostringstream w;
    auto bad = [&](auto&&... parts) {
      (w << ... << parts);
      if (why) *why = w.str();
      return false;
    };
    if (!(std::isfinite(temperature) && temperature > 0))
      return bad("langevin.temperature must be positive and finite, got ", temperature);
    if (!(std::isfinite(dt) && dt > 0)) return bad("langevin.dt must be positive and finite, got ", dt);
    if (steps < 0) return bad("langevin.steps must be ≥ 0, got ", steps);
    if (!(divergence_bound > 0)) return bad("langevin.divergence_bound must be positive, got ", divergence_bound);
    if (anneal != Anneal::none && !(std::isfinite(anneal_from) && anneal_from > 0))
      return bad("langevin.anneal_from must be positive and finite, got ", anneal_from);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// What a Langevin run reports.
struct LangevinSummary {
  LangevinMethod method = LangevinMethod::ula;
  long steps = 0;
  long examples = 0;
  long proposals = 0;  ///< MALA: steps × examples
  long accepted = 0;   ///< MALA: accepted proposals (ULA accepts every step)
  long gradient_evaluations = 0;
  double t_final = 0.0;
  double final_energy = 0.0;  ///< mean over the batch
  double wall_seconds = 0.0;

  double acceptance_rate() const { return proposals ? double(accepted) / double(proposals) : 1.0; }

  void merge(const LangevinSummary& o) {
    if (examples == 0) {
      *this = o;
      return;
    }
    proposals += o.proposals;
    accepted += o.accepted;
    gradient_evaluations += o.gradient_evaluations;
    final_energy = (final_energy * double(examples) + o.final_energy * double(o.examples)) /
                   double(examples + o.examples);
    examples += o.examples;
    wall_seconds += o.wall_seconds;
  }

  std::string brief_report() const {
    std::ostringstream o;
    o << to_string(method) << ": " << steps << " steps to t = " << t_final << ", mean F = " << final_energy;
    if (method == LangevinMethod::mala) o << ", acceptance " << acceptance_rate();
    return o.str();
  }
  std::string full_report() const {
    std::ostringstream o;
    o << "Langevin summary\n"
      << "  method                " << to_string(method) << '\n'
      << "  examples              " << examples << '\n'
      << "  steps                 " << steps << '\n'
      << "  final time            " << t_final << '\n'
      << "  gradient evaluations  " << gradient_evaluations << '\n'
      << "  acceptance rate       " << acceptance_rate() << '\n'
      << "  final mean energy     " << final_energy << '\n'
      << "  wall time (s)         " << wall_seconds << '\n';
    return o.str();
  }
};

/// One independent normal stream per example (column) of a batch. With `antithetic`, the columns
/// of odd global index 2i+1 replay stream 2i with the sign of the normals flipped (antithetic
/// pairs: the odd powers of the noise cancel in a pair's mean; the uniforms are shared).
class NoiseSource {
 public:
  NoiseSource(std::uint64_t seed, Index first_example, Index batch, bool antithetic = false) {
    streams_.reserve(std::size_t(batch));
    sign_.reserve(std::size_t(batch));
    for (Index j = 0; j < batch; ++j) {
      const std::uint64_t id = std::uint64_t(first_example + j);
      const bool odd = antithetic && (id & 1u);
      streams_.emplace_back(seed, odd ? id - 1 : id);
      sign_.push_back(odd ? -1.0 : 1.0);
    }
  }
  /// Fills column j of `xi` with standard normals from example j's stream.
  template <class M> void fill(M& xi) {
    for (Index j = 0; j < xi.cols(); ++j) {
      const double sign = sign_[std::size_t(j)];
      for (Index i = 0; i < xi.rows(); ++i) xi(i, j) = typename M::Scalar(sign * streams_[std::size_t(j)].normal());
    }
  }
  double uniform(Index j) { return streams_[std::size_t(j)].uniform(); }

 private:
  std::vector<Rng> streams_;
  std::vector<double> sign_;
};

/// Euler–Maruyama as an odeint stepper (odeint has no SDE solver):
/// x ← x + dt·f(x) + √(2T·dt) ξ for a drift system f(x) = −∂F/∂s. The noise source is held
/// by reference, so that a copied stepper never replays the same noise.
template <class State>
class EulerMaruyama {
 public:
  using state_type = State;
  using deriv_type = State;
  using value_type = typename State::Scalar;
  using time_type = value_type;
  using order_type = unsigned short;
  using stepper_category = boost::numeric::odeint::stepper_tag;

  EulerMaruyama(NoiseSource& noise, double temperature, Block frozen = {0, 0})
      : noise_(noise), temperature_(temperature), frozen_(frozen) {}
  static constexpr order_type order() { return 1; }
  void set_temperature(double temperature) { temperature_ = temperature; }

  template <class System>
  void do_step(System system, State& x, time_type t, time_type dt) {
    drift_.resize(x.rows(), x.cols());
    xi_.resize(x.rows(), x.cols());
    system(x, drift_, t);
    noise_.fill(xi_);
    if (frozen_.size > 0) xi_.middleRows(frozen_.offset, frozen_.size).setZero();
    x += dt * drift_ + value_type(std::sqrt(2.0 * temperature_ * double(dt))) * xi_;
  }

 private:
  NoiseSource& noise_;
  double temperature_;
  Block frozen_;
  State drift_, xi_;
};

/// Runs `options.steps` steps of overdamped Langevin dynamics on the batch `s` (updated in
/// place). `first_example` is the batch index of column 0: it picks the noise streams.
/// Throws ebm::DivergenceError naming step, example, layer and unit if the state blows up.
template <Relaxable Sys, class... Obs>
  requires(Observer<Obs, typename Sys::Scalar> && ...)
LangevinSummary langevin(const Sys& sys, Matrix<typename Sys::Scalar>& s, const LangevinOptions& options,
                         Index first_example, Obs&... observers) {
  using T = typename Sys::Scalar;
  using State = Matrix<T>;
  options.validate();
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
  LangevinSummary summary;
  summary.method = options.method;
  summary.examples = long(s.cols());
  detail::GradientFlow<Sys> flow{sys, &summary.gradient_evaluations};
  NoiseSource noise(options.seed, first_example, s.cols(), options.antithetic);
  const T h = T(options.dt);
  double t = 0.0;
  long step = 0;

  // A system that holds some rows fixed (the clamped phase of CHL) gets no noise there, so that
  // it samples the conditional law of the other units; its noise streams advance all the same,
  // so a clamped chain and a free chain with the same seed still share their noise elsewhere.
  Block frozen{0, 0};
  if constexpr (requires { sys.frozen_rows(); }) frozen = sys.frozen_rows();
  auto temperature_at = [&](long k) {
    return annealed_temperature(options.anneal, options.anneal_from, options.temperature, k, options.steps);
  };

  State drift(s.rows(), s.cols());
  State drift_obs(s.rows(), s.cols());
  auto observe = [&]() -> bool {
    if (!(observers.wants(step, t) || ...)) return false;
    flow(s, drift_obs, t);
    const RowVector<T> e = sys.energy(s);
    const double mean = double(e.mean());
    const double spread =
        e.size() > 1 ? std::sqrt(std::max(0.0, (e.template cast<double>().array() - mean).square().sum() /
                                                   double(e.size() - 1)))
                     : 0.0;
    [[maybe_unused]] TracePoint<T> p{step, t, step ? double(h) : 0.0, mean, detail::max_column_norm(drift_obs), &s,
                                     &layers};
    p.energy_spread = spread;
    if (options.method == LangevinMethod::mala)
      p.acceptance = summary.proposals ? double(summary.accepted) / double(summary.proposals) : 1.0;
    bool stop = false;
    ((observers.wants(step, t) ? (stop = observers.observe(p) || stop) : stop), ...);
    return stop;
  };
  auto check = [&]() {
    DivergenceSite site;
    std::string where = detail::find_divergence(s, layers, options.divergence_bound, first_example, "state", &site);
    if (!where.empty()) {
      std::ostringstream o;
      o << to_string(options.method) << " Langevin diverged at step " << step << " (t = " << t << "): " << where;
      site.step = long(step);
      site.t = double(t);
      throw DivergenceError(o.str(), site);
    }
  };

  bool stopped = observe();
  if (options.method == LangevinMethod::ula) {
    EulerMaruyama<State> stepper(noise, options.temperature, frozen);
    // A model whose states live in a box (the hard sigmoid's [0, 1]) is projected after each step,
    // as its deterministic relaxations are (projected Euler–Maruyama): unprojected, a unit above 1
    // has ρ' = 0 and an Euler step of h = 1 sends it to 0, a two-cycle instead of a sample.
    bool projects = false;
    if constexpr (requires { sys.projects(); }) projects = sys.projects();
    for (; !stopped && step < options.steps;) {
      stepper.set_temperature(temperature_at(step));
      stepper.do_step(std::cref(flow), s, T(t), h);
      if constexpr (requires { sys.project(s); })
        if (projects) sys.project(s);
      t += double(h);
      ++step;
      check();
      stopped = observe();
    }
  } else {
    // MALA: proposal y = s + h·f(s) + √(2Th)ξ with f = −∂F/∂s; accept with probability
    // min(1, exp(−(F(y) − F(s))/T) q(s|y)/q(y|s)), q(y|s) ∝ exp(−‖y − s − h f(s)‖²/(4Th)).
    State y(s.rows(), s.cols()), drift_y(s.rows(), s.cols()), xi(s.rows(), s.cols());
    flow(s, drift, t);
    RowVector<T> energy_s = sys.energy(s);
    for (; !stopped && step < options.steps;) {
      const double temp = temperature_at(step);
      const T noise_scale = T(std::sqrt(2.0 * temp * double(h)));
      noise.fill(xi);
      if (frozen.size > 0) xi.middleRows(frozen.offset, frozen.size).setZero();
      y = s + h * drift + noise_scale * xi;
      flow(y, drift_y, t);
      const RowVector<T> energy_y = sys.energy(y);
      for (Index j = 0; j < s.cols(); ++j) {
        const double forward = double((y.col(j) - s.col(j) - h * drift.col(j)).squaredNorm());
        const double backward = double((s.col(j) - y.col(j) - h * drift_y.col(j)).squaredNorm());
        const double log_alpha = -(double(energy_y(j)) - double(energy_s(j))) / temp -
                                 (backward - forward) / (4.0 * temp * double(h));
        const double u = noise.uniform(j);
        ++summary.proposals;
        if (std::isfinite(log_alpha) && std::log(u) < log_alpha) {
          s.col(j) = y.col(j);
          drift.col(j) = drift_y.col(j);
          energy_s(j) = energy_y(j);
          ++summary.accepted;
        }
      }
      t += double(h);
      ++step;
      check();
      stopped = observe();
    }
  }
  summary.steps = step;
  summary.t_final = t;
  summary.final_energy = double(sys.energy(s).mean());
  summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

/// langevin() for a batch that starts at example 0.
template <Relaxable Sys, class... Obs>
  requires(Observer<Obs, typename Sys::Scalar> && ...)
LangevinSummary langevin(const Sys& sys, Matrix<typename Sys::Scalar>& s, const LangevinOptions& options,
                         Obs&... observers) {
  return langevin(sys, s, options, Index(0), observers...);
}

}  // namespace ebm
