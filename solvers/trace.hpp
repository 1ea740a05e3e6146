#pragma once
/// \file
/// Observers: what a relaxation shows of itself while it runs. A TraceRecorder keeps a
/// convergence trace (time, energy, ‖∂F/∂s‖, step size, per-layer state change) and writes
/// it as CSV; any observer may also stop the relaxation.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/types.hpp"

namespace ebm {

/// One observation of a relaxation, handed to the observers that asked for this step.
template <class T>
struct TracePoint {
  long step = 0;               ///< steps accepted so far (0 = the initial state)
  double t = 0.0;              ///< time reached
  double dt = 0.0;             ///< size of the step that led here (0 at step 0)
  double energy = 0.0;         ///< mean over the batch of F(s)
  double grad_norm = 0.0;      ///< largest ‖∂F/∂s‖₂ over the batch
  const Matrix<T>* state = nullptr;
  const std::vector<Block>* layers = nullptr;
  /// Langevin phases: the standard deviation of F over the batch's columns (its chains), and the
  /// fraction of MALA proposals accepted so far (NaN for a deterministic phase or for ULA).
  double energy_spread = std::numeric_limits<double>::quiet_NaN();
  double acceptance = std::numeric_limits<double>::quiet_NaN();
};

/// An observer says which steps it wants to see (so that unobserved steps cost nothing)
/// and returns true from observe() to stop the relaxation.
template <class O, class T>
concept Observer = requires(O& o, const TracePoint<T>& p, long step, double t) {
  { o.wants(step, t) } -> std::convertible_to<bool>;
  { o.observe(p) } -> std::convertible_to<bool>;
};

/// When a TraceRecorder records.
struct TraceSchedule {
  long every = 1;             ///< every n-th accepted step (and the initial state)
  std::vector<double> times;  ///< if not empty: the first state at or after each of these times instead

  static TraceSchedule every_step() { return {}; }
  static TraceSchedule every_n(long n) {
    require<InvalidOptions>(n >= 1, "trace.every must be ≥ 1, got ", n);
    return {n, {}};
  }
  static TraceSchedule at_times(std::vector<double> ts) {
    std::sort(ts.begin(), ts.end());
    return {1, std::move(ts)};
  }
};

/// Records a convergence trace. Per-layer state change is ‖Δs_k‖_F over the batch since
/// the previous recorded row (0 on the first row).
template <class T>
class TraceRecorder {
 public:
  struct Row {
    std::string phase;
    long step;
    double t, dt, energy, grad_norm;
    std::vector<double> layer_change;
    double energy_spread = std::numeric_limits<double>::quiet_NaN();  ///< Langevin: std of F over chains
    double acceptance = std::numeric_limits<double>::quiet_NaN();     ///< MALA: acceptance so far
  };

  explicit TraceRecorder(TraceSchedule schedule = {}, std::string phase = "free")
      : schedule_(std::move(schedule)), phase_(std::move(phase)) {}

  /// Label of the rows recorded from now on (e.g. "free", "nudged"); the previous state is
  /// kept, so the first nudged row shows the change since the end of the free phase.
  void set_phase(std::string phase) { phase_ = std::move(phase); }

  bool wants(long step, double t) const {
    if (schedule_.times.empty()) return step % schedule_.every == 0;
    return next_time_ < schedule_.times.size() && t >= schedule_.times[next_time_] - 1e-12 * (1 + std::abs(t));
  }
  bool observe(const TracePoint<T>& p) {
    Row row{phase_, p.step, p.t, p.dt, p.energy, p.grad_norm, {}, p.energy_spread, p.acceptance};
    if (!std::isnan(p.energy_spread)) langevin_ = true;
    for (const Block& b : *p.layers) {
      const bool first = last_.rows() != p.state->rows() || last_.cols() != p.state->cols();
      row.layer_change.push_back(first ? 0.0
                                       : double((p.state->middleRows(b.offset, b.size) -
                                                 last_.middleRows(b.offset, b.size)).norm()));
    }
    last_ = *p.state;
    rows_.push_back(std::move(row));
    while (!schedule_.times.empty() && next_time_ < schedule_.times.size() &&
           p.t >= schedule_.times[next_time_] - 1e-12 * (1 + std::abs(p.t)))
      ++next_time_;
    return false;
  }
  /// The next requested time after t (adaptive solvers shorten a step to land on it).
  double next_time(double /*t*/) const {
    return next_time_ < schedule_.times.size() ? schedule_.times[next_time_] : std::numeric_limits<double>::infinity();
  }

  const std::vector<Row>& rows() const { return rows_; }
  void clear() {
    rows_.clear();
    next_time_ = 0;
    last_.resize(0, 0);
    langevin_ = false;
  }

  /// The trace as CSV: phase, step, t, dt, energy, grad_norm, dstate_1 … dstate_L; when a Langevin
  /// phase was recorded, also energy_std (the spread of F over the chains) and acceptance (MALA;
  /// empty for deterministic and ULA rows).
  std::string csv() const {
    std::ostringstream o;
    o.precision(17);
    std::size_t layers = rows_.empty() ? 0 : rows_.front().layer_change.size();
    o << "phase,step,t,dt,energy,grad_norm";
    for (std::size_t k = 0; k < layers; ++k) o << ",dstate_" << k + 1;
    if (langevin_) o << ",energy_std,acceptance";
    o << '\n';
    auto number = [&](double v) {
      if (!std::isnan(v)) o << v;
    };
    for (const Row& r : rows_) {
      o << r.phase << ',' << r.step << ',' << r.t << ',' << r.dt << ',' << r.energy << ',' << r.grad_norm;
      for (double c : r.layer_change) o << ',' << c;
      if (langevin_) {
        o << ',';
        number(r.energy_spread);
        o << ',';
        number(r.acceptance);
      }
      o << '\n';
    }
    return o.str();
  }
  /// Writes csv() to `path` atomically.
  void write_csv(const std::filesystem::path& path) const { write_file_atomically(path, csv()); }

 private:
  TraceSchedule schedule_;
  std::string phase_;
  std::vector<Row> rows_;
  std::size_t next_time_ = 0;
  Matrix<T> last_;
  bool langevin_ = false;  ///< a Langevin row was recorded: write its columns
};

/// Calls a function on every step; the relaxation stops when it returns true.
/// `StopWhen([](const TracePoint<double>& p) { return p.energy < -3; })`
template <class T>
class StopWhen {
 public:
  explicit StopWhen(std::function<bool(const TracePoint<T>&)> f, long every = 1) : f_(std::move(f)), every_(every) {}
  bool wants(long step, double) const { return step % every_ == 0; }
  bool observe(const TracePoint<T>& p) { return f_(p); }

 private:
  std::function<bool(const TracePoint<T>&)> f_;
  long every_;
};

}  // namespace ebm
