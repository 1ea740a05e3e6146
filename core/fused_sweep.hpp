#pragma once
/// \file
/// One synchronous projected fixed-point step of a network with a wide layer under a narrow
/// one (784-512-10: the hidden layer under the 10 output units), fused into a single pass over
/// the wide layer.
///
/// Why: solved step by step, s ← P(s − ε g) and then g ← ∂E/∂s(s) stream the 512 × b state and
/// its gradient through the cache about a dozen times (step, clip, ρ, W₂ᵀρ(s₂), W₂ρ(s₁), the
/// chain rule), and the arithmetic between two passes is a handful of operations. In one pass
/// every packet of the wide layer is loaded once, stepped, clipped, and used at once for both
/// products with the narrow layer: the hidden pre-activation drive + W₂ᵀρ(s₂) (whose s₂ the pass
/// steps first, it has m ≤ 16 units) and the output's pre-activation W₂ρ(s₁), accumulated in m
/// registers.
///
/// Bit for bit what the step-by-step path computes (tests/core/fused_sweep_test.cpp): every
/// entry is formed by the same operations in the same order as in small_inner_product,
/// small_outer_product (core/small_products.hpp), the clip Eigen's max/min make and
/// Activation::chain_gradient for the hard sigmoid, whose ρ(s) = s for a clipped state.

#include <array>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "core/madd.hpp"
#include "core/small_products.hpp"
#include "core/types.hpp"

namespace ebm {

/// The operands of one sweep over b columns. The state s and the gradient g are (n₁ + m) × b
/// (the wide layer's rows, then the narrow layer's); the drive is the wide layer's constant
/// input, n₁ × b; wt = W₂ᵀ, n₁ × m, column-major (W₂'s rows contiguous); b₂ the narrow layer's
/// bias. States are clipped to [lo, hi], on which ρ is the identity.
template <class T>
struct FusedSweep {
  T* s;
  Index lds;
  T* g;
  Index ldg;
  const T* drive;
  Index ldd;
  const T* wt;
  const T* bias;
  Index wide;    ///< n₁
  Index narrow;  ///< m, at most kMaxFusedNarrow
  Index cols;    ///< b
  T dt, lo, hi;
};

inline constexpr Index kMaxFusedNarrow = 16;

/// What a fused step did: nothing (the network is not of the shape it covers, or the system has
/// no fused step), the step, or the step with every new gradient entry finite and every new
/// state entry within the divergence bound, so that the solver's own checks would pass (they
/// run otherwise, to name the entry that failed).
enum class FusedStep { refused, stepped, stepped_checked };

namespace detail {

/// The clip as Eigen's max(lo).min(hi) makes it, (lo > v) ? lo : v then (hi < v) ? hi : v, which
/// keeps a NaN (the divergence check then reports it).
template <class T>
inline T clip(T v, T lo, T hi) {
  v = (lo > v) ? lo : v;
  return (hi < v) ? hi : v;
}
/// One unit of the hard sigmoid's chain rule, as Activation::chain_gradient: v − ρ′(v)·pre.
template <class T>
inline T chain(T v, T pre, T lo, T hi) {
  const T inside = (v >= lo && v <= hi) ? T(1) : T(0);
  return madd(-inside, pre, v);
}

/// The sweep of column j; returns false if a new gradient entry is not finite.
template <int M, class T>
bool fused_sweep_column(const FusedSweep<T>& a, Index j) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  T* sj = a.s + j * a.lds;
  T* gj = a.g + j * a.ldg;
  const T* dj = a.drive + j * a.ldd;
  const Index n1 = a.wide;
  const P pdt = pset1<P>(a.dt), plo = pset1<P>(a.lo), phi = pset1<P>(a.hi);

  // The narrow layer's step first: the wide layer's new gradient reads its new state.
  std::array<T, M> s2;
  for (int k = 0; k < M; ++k) s2[std::size_t(k)] = clip(sj[n1 + k] - a.dt * gj[n1 + k], a.lo, a.hi);

  P dot[M];
  for (int k = 0; k < M; ++k) dot[k] = pset1<P>(T(0));
  // g·0 is 0 for a finite g and NaN otherwise: one multiply-add per packet keeps the verdict.
  const P zero = pset1<P>(T(0));
  P poison = zero;
  Index i = 0;
  for (; i + ps <= n1; i += ps) {
    P v = psub(ploadu<P>(sj + i), pmul(pdt, ploadu<P>(gj + i)));
    v = pmin(pmax(v, plo), phi);
    pstoreu(sj + i, v);
    P pre = ploadu<P>(dj + i);
    for (int k = 0; k < M; ++k) {
      const P wk = ploadu<P>(a.wt + i + k * n1);
      pre = pmadd(wk, pset1<P>(s2[std::size_t(k)]), pre);
      dot[k] = pmadd(wk, v, dot[k]);
    }
    // chain(v, pre) is fma(−inside, pre, v) with inside = 1 for every v the clip leaves in
    // [lo, hi], which is every v but NaN, and then v − pre, rounded once as the fma rounds it. A
    // NaN v gives a NaN either way. The mask's four instructions were a tenth of the sweep.
    const P gi = psub(v, pre);
    pstoreu(gj + i, gi);
    poison = pmadd(gi, zero, poison);
  }
  T bad = predux(poison);
  T sum[M];
  for (int k = 0; k < M; ++k) sum[k] = predux(dot[k]);
  for (; i < n1; ++i) {  // the last rows, fewer than a packet
    const T v = clip(sj[i] - a.dt * gj[i], a.lo, a.hi);
    sj[i] = v;
    T pre = dj[i];
    for (int k = 0; k < M; ++k) pre = madd(a.wt[i + k * n1], s2[std::size_t(k)], pre);
    for (int k = 0; k < M; ++k) sum[k] = madd(a.wt[i + k * n1], v, sum[k]);
    gj[i] = chain(v, pre, a.lo, a.hi);
    bad += gj[i] * T(0);
  }
  for (int k = 0; k < M; ++k) {
    const T v = s2[std::size_t(k)];
    sj[n1 + k] = v;
    gj[n1 + k] = chain(v, sum[k] + a.bias[k], a.lo, a.hi);
    bad += gj[n1 + k] * T(0);
  }
  return bad == T(0);
}

template <int M, class T>
bool fused_sweep_fixed(const FusedSweep<T>& a) {
  bool finite = true;
  for (Index j = 0; j < a.cols; ++j) finite = fused_sweep_column<M>(a, j) && finite;
  return finite;
}

template <class T, int... Ms>
FusedStep fused_sweep_dispatch(const FusedSweep<T>& a, std::integer_sequence<int, Ms...>) {
  FusedStep result = FusedStep::refused;
  // The first width that matches runs; || stops the fold there.
  auto run = [&](auto width) {
    constexpr int M = decltype(width)::value;
    if (a.narrow != M) return false;
    result = fused_sweep_fixed<M>(a) ? FusedStep::stepped_checked : FusedStep::stepped;
    return true;
  };
  static_cast<void>((run(std::integral_constant<int, Ms + 1>{}) || ...));
  return result;
}

}  // namespace detail

/// Runs the sweep: s ← clip(s − dt·g), then g ← s − ρ′(s) ⊙ p with p the pre-activations of the
/// new state (the energy's gradient; a nudged system adds its cost's afterwards). Returns
/// stepped_checked when every new gradient entry is finite (then every new state entry is in
/// [lo, hi]: a NaN state makes its gradient NaN), stepped when one is not, and refused, touching
/// nothing, when the narrow layer has more than kMaxFusedNarrow units.
template <class T>
FusedStep fused_sweep(const FusedSweep<T>& a) {
  if (a.narrow < 1 || a.narrow > kMaxFusedNarrow) return FusedStep::refused;
  return detail::fused_sweep_dispatch(a, std::make_integer_sequence<int, int(kMaxFusedNarrow)>{});
}

}  // namespace ebm
