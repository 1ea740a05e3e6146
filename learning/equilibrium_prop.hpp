#pragma once
/// \file
/// Equilibrium Propagation (Scellier & Bengio 2017): the gradient of the cost at the free
/// fixed point from two relaxations and a local (Hebbian) difference of ∂F/∂θ.

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "learning/langevin_phases.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// Which finite difference in β the estimator takes.
enum class EPVariant {
  one_sided,    ///< \f$ \frac1\beta[\partial_\theta F(s^\beta) - \partial_\theta F(s^0)] \f$, bias O(β)
  symmetric,    ///< \f$ \frac1{2\beta}[\partial_\theta F(s^\beta) - \partial_\theta F(s^{-\beta})] \f$, bias O(β²)
                ///< (Laborieux et al. 2021); two nudged phases
  random_sign,  ///< one-sided with the sign of β drawn per minibatch: the O(β) bias averages out
                ///< over minibatches (Scellier & Bengio 2017, §4; Laborieux et al. 2021)
};

template <>
struct EnumNames<EPVariant> {
  static constexpr std::array<std::pair<EPVariant, std::string_view>, 3> values{
      {{EPVariant::one_sided, "one_sided"}, {EPVariant::symmetric, "symmetric"}, {EPVariant::random_sign, "random_sign"}}};
};

inline std::string_view to_string(EPVariant v) { return enum_name(v); }
inline EPVariant parse_ep_variant(std::string_view name) {
  for (EPVariant v : {EPVariant::one_sided, EPVariant::symmetric, EPVariant::random_sign})
    if (name == to_string(v)) return v;
  throw InvalidOptions("unknown EP variant '" + std::string(name) + "' (expected one_sided, symmetric or random_sign)");
}

/// Options of EquilibriumProp.
struct EPOptions {
  /// The free relaxation, from the state the caller passes in.
  RelaxOptions free;
  /// The nudged relaxations, each from the free fixed point. A residual δ of either phase
  /// enters the estimate as δ/β: relax both to ‖∂F/∂s‖ well below β·(wanted accuracy).
  RelaxOptions nudged;
  /// Nudging strength β > 0 (the random-sign variant flips its sign).
  double beta = 0.5;
  EPVariant variant = EPVariant::one_sided;
  /// Random-sign variant: with the index of the chunk's first example, picks the sign, so the
  /// draw is the same whatever the number of threads.
  std::uint64_t seed = 0;
  /// When the nudged phase is Langevin (ula or mala): chains, burn-in, samples, thinning, shared
  /// noise (learning/langevin_phases.hpp). The free phase may be Langevin too, or deterministic.
  LangevinPhaseOptions langevin{};

  /// The fields a configuration sets (the phases and the seed come from elsewhere).
  static constexpr auto fields() {
    return std::tuple{
        field("beta", &EPOptions::beta, "nudging strength (the random-sign variant flips its sign)", positive),
        field("variant", &EPOptions::variant, "one_sided (bias O(beta)), symmetric (O(beta^2)) or random_sign"),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    if (!detail::nested_valid(free, "ep.free", why)) return false;
    if (!detail::nested_valid(nudged, "ep.nudged", why)) return false;
    if (!langevin_pair(free, nudged, "ep", "nudged", why)) return false;
    if (!langevin.is_valid(why, "ep.langevin.")) return false;
    if (!pair_start_valid(free, langevin, "ep.langevin.", why)) return false;
    return check_fields(*this, "ep.", why);
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// The sign of β that the random-sign variant uses for the (chunk of the) minibatch starting
/// at `first_example`: a fair coin from the stream (seed, first_example).
inline int ep_random_sign(std::uint64_t seed, Index first_example) {
  Rng rng(seed ^ 0x5EEDB17A5EEDB17Aull, std::uint64_t(first_example));
  return rng.uniform() < 0.5 ? -1 : 1;
}

/// Equilibrium Propagation (Scellier & Bengio 2017, eq. 22):
/// \f[ \frac{dJ}{d\theta} = \lim_{\beta\to0} \frac1\beta\Big[\frac{\partial F}{\partial\theta}(s^\beta, \beta)
///      - \frac{\partial F}{\partial\theta}(s^0, 0)\Big], \qquad F = E + \beta C, \f]
/// s⁰ the free fixed point and s^β the fixed point of F reached from s⁰. Since C does not
/// depend on θ, ∂F/∂θ = ∂E/∂θ: for the Hopfield energy the update is the Hebbian difference
/// \f$ -\frac1\beta(\rho(s_i^\beta)\rho(s_j^\beta) - \rho(s_i^0)\rho(s_j^0)) \f$.
/// The one-sided difference has an O(β) bias, the symmetric one (±β) an O(β²) bias.
template <std::floating_point T, class C = SquaredError<T>>
class EquilibriumProp {
 public:
  explicit EquilibriumProp(EPOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const EPOptions& options() const { return options_; }

  /// The β this estimator nudges with for the chunk starting at `first_example` (signed).
  double signed_beta(Index first_example) const {
    return options_.variant == EPVariant::random_sign ? options_.beta * ep_random_sign(options_.seed, first_example)
                                                      : options_.beta;
  }

  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    if (langevin()) {
      SampledPair<T> p;
      const EstimateSummary summary = sample(model, x, target, s, p, first_example);
      const double divisor = options_.variant == EPVariant::symmetric ? 2 * options_.beta : signed_beta(first_example);
      grad = (p.mean_a - p.mean_b) / T(divisor * double(options_.langevin.chains));
      return summary;
    }
    Matrix<T> s_a, s_b;
    const EstimateSummary summary = relax_pair(model, x, target, s, s_a, s_b, first_example);
    detail::param_gradient_difference(model, s_a, s_b, x, grad);  // ∂F/∂θ = ∂E/∂θ: C has no θ
    grad /= T(pair_divisor());
    return summary;
  }

  /// The relaxations of estimate() without the parameter gradient, for a trainer that computes the
  /// Hebbian difference of a whole minibatch at once (see HebbianPairEstimator): on return `s` is
  /// the free fixed point and the estimate is
  /// \f$ \frac{1}{\text{pair\_divisor}()}\sum_{\text{batch}}\big[\partial_\theta E(s_a) - \partial_\theta E(s_b)\big] \f$.
  /// A negative β of the random-sign variant is folded into the order of the pair (s_a = s⁰,
  /// s_b = s^{−β}), so that the divisor is always positive.
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary relax_pair(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, Matrix<T>& s_a,
                             Matrix<T>& s_b, Index first_example = 0) const {
    detail::check_batch(model, x, target, s, model.params().size());
    if (langevin()) {
      require<InvalidOptions>(has_pair(), "ep: a Langevin estimate averaging ", options_.langevin.draws(),
                              " samples per example is not one pair of states; call estimate()");
      SampledPair<T> p;
      const EstimateSummary summary = sample(model, x, target, s, p, first_example);
      const bool negative = options_.variant != EPVariant::symmetric && signed_beta(first_example) < 0;
      s_a = negative ? std::move(p.last_b) : std::move(p.last_a);
      s_b = negative ? std::move(p.last_a) : std::move(p.last_b);
      return summary;
    }
    return relax_pair_from(FreeSystem(model, x), target, s, s_a, s_b, first_example);
  }
  /// relax_pair() with the input's drive already computed (HasInputDrive; a trainer computes a
  /// whole minibatch's drive at once): `drive` is model.input_drive(x).
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T> && HasInputDrive<M>
  EstimateSummary relax_pair_driven(const M& model, ConstRef<T> x, ConstRef<T> drive, ConstRef<T> target,
                                    Matrix<T>& s, Matrix<T>& s_a, Matrix<T>& s_b, Index first_example = 0) const {
    if (langevin()) return relax_pair(model, x, target, s, s_a, s_b, first_example);
    detail::check_batch(model, x, target, s, model.params().size());
    return relax_pair_from(FreeSystem(model, x, drive), target, s, s_a, s_b, first_example);
  }
  /// β for the one-sided and random-sign estimates, 2β for the symmetric one.
  double pair_divisor() const { return options_.variant == EPVariant::symmetric ? 2 * options_.beta : options_.beta; }

 private:
  /// The deterministic phases of relax_pair() from the free phase's system.
  template <EnergyModel M>
  EstimateSummary relax_pair_from(const FreeSystem<M>& free, ConstRef<T> target, Matrix<T>& s, Matrix<T>& s_a,
                                  Matrix<T>& s_b, Index first_example) const {
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);

    const T beta = T(signed_beta(first_example));
    NudgedSystem<M, C> nudged(free, target, beta, cost_);  // reuses the free phase's input drive
    Matrix<T>& s_beta = beta > T(0) ? s_a : s_b;
    s_beta = s;
    summary.nudged_phase = relax(nudged, s_beta, options_.nudged, first_example);
    Matrix<T>& reference = beta > T(0) ? s_b : s_a;
    reference = s;
    if (options_.variant == EPVariant::symmetric) {
      nudged.set_beta(-beta);
      summary.nudged_phase.merge(relax(nudged, reference, options_.nudged, first_example));
    }
    return summary;
  }

 public:
  /// Whether the nudged phase is Langevin (then the estimate is a difference of expectations).
  bool langevin() const { return is_langevin(options_.nudged.method); }
  /// Whether relax_pair() gives the estimate: always, except for Langevin phases averaging more
  /// than one sample per example (a trainer then sums estimate() per chunk).
  bool has_pair() const { return !langevin() || options_.langevin.draws() == 1; }

  /// The Langevin phases (learning/langevin_phases.hpp): the free phase, then the nudged chains
  /// (a) beside the free chains continued (b), or the +β chains (a) beside the −β chains (b) for the
  /// symmetric variant, from the free phase's end (or, with langevin.start = fixed_points, each from
  /// its own deterministic fixed point). On return `s` is the chains' mean state at the
  /// end of the free phase.
  template <EnergyModel M>
    requires std::same_as<typename M::Scalar, T>
  EstimateSummary sample(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, SampledPair<T>& p,
                         Index first_example = 0) const {
    LangevinPhaseOptions lp = options_.langevin;
    const LangevinChains<T> c = langevin_free_phase(model, x, target, s, options_.free, lp, first_example);
    const T beta = T(signed_beta(first_example));
    FreeSystem free(model, c.x);
    NudgedSystem<M, C> nudged(model, c.x, c.target, beta, cost_);
    EstimateSummary summary;
    summary.free_phase = c.free_phase;
    Matrix<T> start_a = c.s, start_b = c.s;
    RelaxSummary to_fixed_points;
    const bool from_fixed_points = lp.start == PairStart::fixed_points;
    const bool symmetric = options_.variant == EPVariant::symmetric;
    if (from_fixed_points) {
      // The nudged fixed point (and the −β one) from the free fixed point, relaxed once per example
      // with the free phase's deterministic method and copied to the chains.
      const Matrix<T> s_free = first_chain(c.s, lp.chains);
      FreeSystem free_once(model, x);
      NudgedSystem<M, C> nudged_once(free_once, target, beta, cost_);
      start_a = detail::relaxed_chains(nudged_once, s_free, options_.free, lp.chains, first_example, to_fixed_points);
      if (symmetric) {
        nudged_once.set_beta(-beta);
        RelaxSummary minus;
        start_b = detail::relaxed_chains(nudged_once, s_free, options_.free, lp.chains, first_example, minus);
        to_fixed_points.merge(minus);
      }
    }
    if (symmetric) {
      NudgedSystem<M, C> opposite(model, c.x, c.target, -beta, cost_);
      p = sample_pair(model, c.x, nudged, opposite, std::move(start_a), std::move(start_b), options_.nudged, lp,
                      first_example);
    } else {
      p = sample_pair(model, c.x, nudged, free, std::move(start_a), std::move(start_b), options_.nudged, lp,
                      first_example);
    }
    summary.nudged_phase = from_fixed_points ? to_fixed_points : p.phase_a;
    if (from_fixed_points) detail::append_phase(summary.nudged_phase, p.phase_a);
    // Chain b is the −β chain (a nudged phase) or the free chain continued.
    detail::append_phase(symmetric ? summary.nudged_phase : summary.free_phase, p.phase_b);
    summary.free_phase.examples = summary.nudged_phase.examples = long(x.cols());
    s = chain_mean(c.s, lp.chains);
    detail::score_free_phase(model, s, target, cost_, summary);
    return summary;
  }

 private:
  EPOptions options_;
  C cost_;
};

}  // namespace ebm
