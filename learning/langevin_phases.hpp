#pragma once
/// \file
/// Langevin phases for any learning rule (EP, CHL, early inference): the states are samples of
/// \f$ p \propto e^{-F/T} \f$ and the estimate is a difference of expectations of ∂E/∂θ, each a
/// time and chain average.
///
/// The layout every rule shares:
/// 1. the free phase: each example's `chains` chains start from the caller's state and run
///    `relax.free`'s method for its `max_steps` steps (its burn-in; optionally annealed from a
///    higher temperature). A deterministic free phase is relaxed once and copied to the chains.
/// 2. the sampled pair: from the end of the free phase two chains run side by side, `a` (nudged,
///    clamped, or nudged at +β) and `b` (the free chain continued, or nudged at −β), each
///    `burn_in + samples·thinning` steps of the sampled phase's method, and ∂E/∂θ is averaged at
///    steps burn_in + k·thinning, k = 1…samples. With shared noise (common random numbers) chain
///    b replays chain a's noise, so their difference is O(β) sample by sample and the estimate's
///    variance does not grow as 1/β² (THEORY.md §6).
///
/// Noise: chain r of example e draws from stream (first_example + e)·chains + r of a seed derived
/// from the rule's seed and the phase, so an estimate is bit-identical however a batch is split
/// across threads.

#include <array>
#include <cstdint>
#include <string>
#include <tuple>

#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "solvers/langevin.hpp"
#include "solvers/phase.hpp"

namespace ebm {

/// Where the sampled pair of a Langevin estimate starts.
enum class PairStart {
  /// Both chains from the free phase's end: the nudged (clamped) chain relaxes toward its own law
  /// under the sampler.
  free_end,
  /// Each chain from its own deterministic fixed point: the nudged (±β, clamped) chains from the
  /// nudged (clamped) fixed point, relaxed from the free one with relax.free's deterministic
  /// method; needs a deterministic free phase. A short pair then already samples around the right
  /// minima (no transient to wait for), so it needs fewer steps, and under MALA makes fewer of the
  /// rejections that one chain of the pair makes without its twin, each of which decouples them.
  fixed_points,
};

template <>
struct EnumNames<PairStart> {
  static constexpr std::array<std::pair<PairStart, std::string_view>, 2> values{
      {{PairStart::free_end, "free_end"}, {PairStart::fixed_points, "fixed_points"}}};
};

/// How a rule samples its phases when they are Langevin (relax.*.method = ula or mala).
struct LangevinPhaseOptions {
  long chains = 1;    ///< independent chains per example
  long burn_in = 0;   ///< steps of the sampled pair before its first sample
  long samples = 1;   ///< samples averaged per chain
  long thinning = 1;  ///< steps between two samples
  /// Common random numbers: chain b replays chain a's noise (O(β) difference, low variance).
  bool shared_noise = true;
  /// Antithetic chains: chain 2i+1 of an example runs chain 2i's noise negated, so the odd powers
  /// of the noise cancel in the chain mean (needs an even number of chains).
  bool antithetic = false;
  /// Where the sampled pair starts (EP and CHL; early inference starts from the free fixed point).
  PairStart start = PairStart::free_end;
  /// The rule's noise family; with the example index it seeds every chain.
  std::uint64_t seed = 0;

  /// Steps of each chain of the sampled pair.
  long pair_steps() const { return burn_in + samples * thinning; }
  /// Samples behind each example's estimate.
  long draws() const { return chains * samples; }

  static constexpr auto fields() {
    using O = LangevinPhaseOptions;
    return std::tuple{
        field("chains", &O::chains, "Langevin phases: independent chains per example", positive),
        field("burn_in", &O::burn_in, "Langevin phases: steps of the nudged/clamped pair before its first sample",
              non_negative),
        field("samples", &O::samples, "Langevin phases: samples of dE/dtheta averaged per chain", positive),
        field("thinning", &O::thinning, "Langevin phases: steps between two samples", positive),
        field("shared_noise", &O::shared_noise,
              "Langevin phases: the two chains of a pair share their noise (common random numbers)"),
        field("antithetic", &O::antithetic,
              "Langevin phases: chain 2i+1 runs chain 2i's noise negated (needs an even number of chains)"),
        field("start", &O::start,
              "Langevin phases: the pair starts from the free phase's end (free_end) or each chain from its own "
              "deterministic fixed point (fixed_points: EP and CHL, with a deterministic free phase)"),
    };
  }
  bool is_valid(std::string* why = nullptr, std::string_view prefix = "langevin.") const {
    if (!check_fields(*this, prefix, why)) return false;
    if (antithetic && chains % 2 != 0) {
      if (why) *why = std::string(prefix) + "antithetic needs an even number of chains, got chains = " + std::to_string(chains);
      return false;
    }
    return true;
  }
};

namespace detail {

/// The seed of one phase of a Langevin estimate, from the rule's seed.
inline std::uint64_t phase_seed(std::uint64_t seed, std::uint64_t phase) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (phase + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Each column of `m` repeated `r` times in place (column e·r + k is column e of m).
template <class T>
Matrix<T> repeat_columns(ConstRef<T> m, Index r) {
  Matrix<T> out(m.rows(), m.cols() * r);
  for (Index e = 0; e < m.cols(); ++e)
    for (Index k = 0; k < r; ++k) out.col(e * r + k) = m.col(e);
  return out;
}

/// Averages Σ over the columns of ∂E/∂θ at the steps burn_in + k·thinning, k = 1…samples.
template <class M>
class SampleAverager {
 public:
  using T = typename M::Scalar;
  SampleAverager(const M& model, ConstRef<T> x, const LangevinPhaseOptions& o)
      : model_(model), x_(x), burn_in_(o.burn_in), thinning_(o.thinning), samples_(o.samples),
        sum_(Vector<T>::Zero(model.params().size())), g_(model.params().size()) {}
  bool wants(long step, double) const {
    return step > burn_in_ && (step - burn_in_) % thinning_ == 0 && count_ < samples_;
  }
  bool observe(const TracePoint<T>& p) {
    model_.param_gradient(*p.state, x_, g_);
    sum_ += g_;
    ++count_;
    return false;
  }
  /// Σ over the columns of the time average of ∂E/∂θ.
  Vector<T> mean() const { return count_ ? Vector<T>(sum_ / T(count_)) : Vector<T>(sum_); }
  long count() const { return count_; }

 private:
  const M& model_;
  ConstRef<T> x_;
  long burn_in_, thinning_, samples_;
  Vector<T> sum_, g_;
  long count_ = 0;
};

/// Runs a Langevin phase (RelaxOptions with method ula or mala) for `steps` steps.
template <Relaxable Sys, class... Obs>
RelaxSummary run_langevin(const Sys& sys, Matrix<typename Sys::Scalar>& s, const RelaxOptions& phase, long steps,
                          Index first_stream, std::uint64_t seed, bool antithetic, Obs&... observers) {
  LangevinOptions lo = langevin_options_of(phase, seed);
  lo.steps = steps;
  lo.antithetic = antithetic;
  return relax_summary_of(langevin(sys, s, lo, first_stream, observers...), phase.method);
}

/// Appends a phase run after (or beside) `into` on the same examples: counts add up, the final
/// values are the later phase's.
inline void append_phase(RelaxSummary& into, const RelaxSummary& more) {
  into.steps_accepted += more.steps_accepted;
  into.gradient_evaluations += more.gradient_evaluations;
  into.t_final += more.t_final;
  into.final_energy = more.final_energy;
  into.wall_seconds += more.wall_seconds;
  into.proposals += more.proposals;
  into.accepted += more.accepted;
  if (is_langevin(more.method)) into.method = more.method;
}

/// Relaxes `s` (one column per example) deterministically with `options` and returns it copied to
/// each example's `chains` chains (column e·chains + r: example e); `summary` is the relaxation's.
template <Relaxable Sys>
Matrix<typename Sys::Scalar> relaxed_chains(const Sys& sys, Matrix<typename Sys::Scalar> s, const RelaxOptions& options,
                                            Index chains, Index first_example, RelaxSummary& summary) {
  summary = relax(sys, s, options, first_example);
  return repeat_columns<typename Sys::Scalar>(s, chains);
}

}  // namespace detail

/// The chains of one minibatch: inputs and targets repeated per chain, the free phase's states.
template <class T>
struct LangevinChains {
  Index chains = 1;
  Matrix<T> x, target;  ///< column e·chains + r: example e
  Matrix<T> s;          ///< the chains' states at the end of the free phase
  RelaxSummary free_phase;
};

/// Step 1 of the layout (file comment): the free phase of every chain. A Langevin free phase runs
/// `free.max_steps` steps (noise phase 0); a deterministic one is relaxed once per example.
template <EnergyModel M>
LangevinChains<typename M::Scalar> langevin_free_phase(const M& model, ConstRef<typename M::Scalar> x,
                                                       ConstRef<typename M::Scalar> target,
                                                       const Matrix<typename M::Scalar>& s0,
                                                       const RelaxOptions& free, const LangevinPhaseOptions& lp,
                                                       Index first_example) {
  using T = typename M::Scalar;
  LangevinChains<T> c;
  c.chains = lp.chains;
  c.x = detail::repeat_columns<T>(x, lp.chains);
  c.target = detail::repeat_columns<T>(target, lp.chains);
  if (is_langevin(free.method)) {
    c.s = detail::repeat_columns<T>(s0, lp.chains);
    FreeSystem sys(model, c.x);
    c.free_phase = detail::run_langevin(sys, c.s, free, free.max_steps, first_example * lp.chains,
                                        detail::phase_seed(lp.seed, 0), lp.antithetic);
  } else {
    c.s = detail::relaxed_chains(FreeSystem(model, x), s0, free, lp.chains, first_example, c.free_phase);
  }
  return c;
}

/// What a sampled pair gives.
template <class T>
struct SampledPair {
  Vector<T> mean_a, mean_b;  ///< Σ over the chains' columns of the time-averaged ∂E/∂θ
  Matrix<T> last_a, last_b;  ///< the last states of the chains
  RelaxSummary phase_a, phase_b;
};

/// Step 2 of the layout: chains a (system `a`, from `start_a`) and b (system `b`, from `start_b`)
/// run `lp.pair_steps()` steps of `phase` (ula or mala) and average ∂E/∂θ; chain b replays chain
/// a's noise when lp.shared_noise. `xr` is the chains' input (LangevinChains::x).
template <EnergyModel M, Relaxable SysA, Relaxable SysB>
SampledPair<typename M::Scalar> sample_pair(const M& model, ConstRef<typename M::Scalar> xr, const SysA& a,
                                            const SysB& b, Matrix<typename M::Scalar> start_a,
                                            Matrix<typename M::Scalar> start_b, const RelaxOptions& phase,
                                            const LangevinPhaseOptions& lp, Index first_example) {
  using T = typename M::Scalar;
  require<InvalidOptions>(is_langevin(phase.method), "sample_pair: the sampled phase must be ula or mala, not ",
                          to_string(phase.method));
  SampledPair<T> out;
  const Index first_stream = first_example * lp.chains;
  const std::uint64_t seed_a = detail::phase_seed(lp.seed, 1);
  const std::uint64_t seed_b = lp.shared_noise ? seed_a : detail::phase_seed(lp.seed, 2);
  detail::SampleAverager<M> avg_a(model, xr, lp), avg_b(model, xr, lp);
  out.phase_a = detail::run_langevin(a, start_a, phase, lp.pair_steps(), first_stream, seed_a, lp.antithetic, avg_a);
  out.phase_b = detail::run_langevin(b, start_b, phase, lp.pair_steps(), first_stream, seed_b, lp.antithetic, avg_b);
  out.mean_a = avg_a.mean();
  out.mean_b = avg_b.mean();
  out.last_a = std::move(start_a);
  out.last_b = std::move(start_b);
  return out;
}

/// Column e of the result: column e·chains of `s` (the first chain of example e).
template <class T>
Matrix<T> first_chain(const Matrix<T>& s, Index chains) {
  Matrix<T> out(s.rows(), s.cols() / chains);
  for (Index e = 0; e < out.cols(); ++e) out.col(e) = s.col(e * chains);
  return out;
}

/// Column e of the result: the mean over example e's chains of column e·chains + r of `s`.
template <class T>
Matrix<T> chain_mean(const Matrix<T>& s, Index chains) {
  Matrix<T> out = Matrix<T>::Zero(s.rows(), s.cols() / chains);
  for (Index e = 0; e < out.cols(); ++e)
    for (Index r = 0; r < chains; ++r) out.col(e) += s.col(e * chains + r);
  out /= T(chains);
  return out;
}

/// Whether a rule's phases are Langevin; a mixed pair is refused by name (the sampled pair shares
/// one method, temperature and step between its chains; the free phase may be deterministic).
inline bool langevin_pair(const RelaxOptions& free, const RelaxOptions& sampled, const char* rule,
                          const char* sampled_name, std::string* why = nullptr) {
  if (!is_langevin(sampled.method) && is_langevin(free.method)) {
    if (why)
      *why = std::string(rule) + ": the free phase is " + std::string(to_string(free.method)) + " but the " +
             sampled_name + " phase is " + std::string(to_string(sampled.method)) +
             "; a Langevin free phase needs a Langevin " + sampled_name + " phase";
    return false;
  }
  return true;
}

/// Whether `lp.start` suits the free phase: a pair started at the fixed points needs a deterministic
/// free phase (its fixed point, and the method that relaxes the nudged or clamped one from it).
inline bool pair_start_valid(const RelaxOptions& free, const LangevinPhaseOptions& lp, const char* prefix,
                             std::string* why = nullptr) {
  if (lp.start == PairStart::fixed_points && is_langevin(free.method)) {
    if (why)
      *why = std::string(prefix) + "start = fixed_points needs a deterministic free phase, but the free phase is " +
             std::string(to_string(free.method));
    return false;
  }
  return true;
}

}  // namespace ebm
