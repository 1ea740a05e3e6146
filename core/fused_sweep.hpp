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

/// The end of column j's sweep, after its packets (rows below `i` done, their W₂v partial sums
/// in `dot`): the last rows, fewer than a packet, then the narrow layer's state and gradient.
/// Adds g·0 of every new gradient entry to `bad`.
template <int M, class T>
void fused_sweep_finish(const FusedSweep<T>& a, Index j, Index i, const T* s2, const Packet<T>* dot, T& bad) {
  T* sj = a.s + j * a.lds;
  T* gj = a.g + j * a.ldg;
  const T* dj = a.drive + j * a.ldd;
  const T* wt = a.wt;
  const Index n1 = a.wide;
  T sum[M];
  for (int k = 0; k < M; ++k) sum[k] = Eigen::internal::predux(dot[k]);
  for (; i < n1; ++i) {
    const T v = clip(sj[i] - a.dt * gj[i], a.lo, a.hi);
    sj[i] = v;
    T pre = dj[i];
    for (int k = 0; k < M; ++k) pre = madd(wt[i + k * n1], s2[k], pre);
    for (int k = 0; k < M; ++k) sum[k] = madd(wt[i + k * n1], v, sum[k]);
    gj[i] = chain(v, pre, a.lo, a.hi);
    bad += gj[i] * T(0);
  }
  for (int k = 0; k < M; ++k) {
    const T v = s2[k];
    sj[n1 + k] = v;
    gj[n1 + k] = chain(v, sum[k] + a.bias[k], a.lo, a.hi);
    bad += gj[n1 + k] * T(0);
  }
}

/// The narrow layer's new state of column j, stepped first: the wide layer's new gradient reads it.
template <int M, class T>
void fused_sweep_narrow(const FusedSweep<T>& a, Index j, T* s2) {
  const T* sj = a.s + j * a.lds + a.wide;
  const T* gj = a.g + j * a.ldg + a.wide;
  for (int k = 0; k < M; ++k) s2[k] = clip(sj[k] - a.dt * gj[k], a.lo, a.hi);
}

// In both kernels below: chain(v, pre) is fma(−inside, pre, v) with inside = 1 for every v the
// clip leaves in [lo, hi], which is every v but NaN, and then v − pre, rounded once as the fma
// rounds it; a NaN v gives a NaN either way (the mask's four instructions were a tenth of the
// sweep). g·0 is 0 for a finite g and NaN otherwise: one multiply-add per packet keeps the
// verdict. Pointers are local and unaliased: through `a` the compiler reloads a.wt after every
// store.

/// A packet of the wide layer stepped and clipped, v = clip(s − dt·g), stored back to s.
template <class P, class T>
inline P step_packet(T* s, const T* g, const P& dt, const P& lo, const P& hi) {
  using namespace Eigen::internal;
  const P v = pmin(pmax(psub(ploadu<P>(s), pmul(dt, ploadu<P>(g))), lo), hi);
  pstoreu(s, v);
  return v;
}

/// A packet's new gradient v − pre stored to g, its finiteness folded into `poison`.
template <class P, class T>
inline void store_gradient(T* g, const P& v, const P& pre, const P& zero, P& poison) {
  using namespace Eigen::internal;
  const P gi = psub(v, pre);
  pstoreu(g, gi);
  poison = pmadd(gi, zero, poison);
}

/// The sweep of column j; returns false if a new gradient entry is not finite.
///
/// Two packets per iteration, their operations interleaved: a packet's pre-activation is a chain
/// of m dependent multiply-adds, and two chains side by side give the out-of-order core twice the
/// independent work in the same window (measured: the sweep 8% faster with AVX2). Each entry
/// sees the same operations in the same order as one packet at a time would give it, and dot[k]
/// takes packet i before packet i + ps.
template <int M, class T>
bool fused_sweep_column(const FusedSweep<T>& a, Index j) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  T* __restrict sj = a.s + j * a.lds;
  T* __restrict gj = a.g + j * a.ldg;
  const T* __restrict dj = a.drive + j * a.ldd;
  const T* __restrict wt = a.wt;
  const Index n1 = a.wide;
  const P pdt = pset1<P>(a.dt), plo = pset1<P>(a.lo), phi = pset1<P>(a.hi);
  T s2[M];
  fused_sweep_narrow<M>(a, j, s2);

  P dot[M];
  for (int k = 0; k < M; ++k) dot[k] = pset1<P>(T(0));
  const P zero = pset1<P>(T(0));
  P poison = zero;
  Index i = 0;
  for (; i + 2 * ps <= n1; i += 2 * ps) {
    const P va = step_packet(sj + i, gj + i, pdt, plo, phi);
    const P vb = step_packet(sj + i + ps, gj + i + ps, pdt, plo, phi);
    P prea = ploadu<P>(dj + i);
    P preb = ploadu<P>(dj + i + ps);
    for (int k = 0; k < M; ++k) {
      const P wa = ploadu<P>(wt + i + k * n1);
      const P wb = ploadu<P>(wt + i + ps + k * n1);
      const P sk = pset1<P>(s2[k]);
      prea = pmadd(wa, sk, prea);
      preb = pmadd(wb, sk, preb);
      dot[k] = pmadd(wa, va, dot[k]);
      dot[k] = pmadd(wb, vb, dot[k]);
    }
    store_gradient(gj + i, va, prea, zero, poison);
    store_gradient(gj + i + ps, vb, preb, zero, poison);
  }
  for (; i + ps <= n1; i += ps) {
    const P v = step_packet(sj + i, gj + i, pdt, plo, phi);
    P pre = ploadu<P>(dj + i);
    for (int k = 0; k < M; ++k) {
      const P wk = ploadu<P>(wt + i + k * n1);
      pre = pmadd(wk, pset1<P>(s2[k]), pre);
      dot[k] = pmadd(wk, v, dot[k]);
    }
    store_gradient(gj + i, v, pre, zero, poison);
  }
  T bad = predux(poison);
  fused_sweep_finish<M>(a, j, i, s2, dot, bad);
  return bad == T(0);
}

/// Columns j and j + 1 side by side, a packet at a time; returns false if a new gradient entry
/// of either is not finite. Each load of W₂ᵀ feeds four multiply-adds (both columns'
/// pre-activations and W₂v sums) instead of two: the one-column kernel issues as many loads as
/// multiply-adds, and AVX-512 cores load two 64-byte packets per cycle where they do two
/// multiply-adds (measured: the sweep 18% faster than one column a packet at a time, 11% faster
/// than two packets at a time). It keeps 2m accumulators in registers: for 32 of them (AVX-512),
/// not 16 (AVX2). Every entry is formed exactly as by fused_sweep_column.
template <int M, class T>
bool fused_sweep_pair(const FusedSweep<T>& a, Index j) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  T* __restrict s0 = a.s + j * a.lds;
  T* __restrict s1 = s0 + a.lds;
  T* __restrict g0 = a.g + j * a.ldg;
  T* __restrict g1 = g0 + a.ldg;
  const T* __restrict d0 = a.drive + j * a.ldd;
  const T* __restrict d1 = d0 + a.ldd;
  const T* __restrict wt = a.wt;
  const Index n1 = a.wide;
  const P pdt = pset1<P>(a.dt), plo = pset1<P>(a.lo), phi = pset1<P>(a.hi);
  T t0[M], t1[M];
  fused_sweep_narrow<M>(a, j, t0);
  fused_sweep_narrow<M>(a, j + 1, t1);

  P dot0[M], dot1[M];
  for (int k = 0; k < M; ++k) dot0[k] = dot1[k] = pset1<P>(T(0));
  const P zero = pset1<P>(T(0));
  P poison = zero;
  Index i = 0;
  for (; i + ps <= n1; i += ps) {
    const P v0 = step_packet(s0 + i, g0 + i, pdt, plo, phi);
    const P v1 = step_packet(s1 + i, g1 + i, pdt, plo, phi);
    P pre0 = ploadu<P>(d0 + i);
    P pre1 = ploadu<P>(d1 + i);
    for (int k = 0; k < M; ++k) {
      const P wk = ploadu<P>(wt + i + k * n1);
      pre0 = pmadd(wk, pset1<P>(t0[k]), pre0);
      pre1 = pmadd(wk, pset1<P>(t1[k]), pre1);
      dot0[k] = pmadd(wk, v0, dot0[k]);
      dot1[k] = pmadd(wk, v1, dot1[k]);
    }
    store_gradient(g0 + i, v0, pre0, zero, poison);
    store_gradient(g1 + i, v1, pre1, zero, poison);
  }
  T bad = predux(poison);
  fused_sweep_finish<M>(a, j, i, t0, dot0, bad);
  fused_sweep_finish<M>(a, j + 1, i, t1, dot1, bad);
  return bad == T(0);
}


template <int M, class T>
bool fused_sweep_fixed(const FusedSweep<T>& a) {
  bool finite = true;
  Index j = 0;
  // 32 registers hold the pair kernel's 2m accumulators and its ten other packets when m ≤ 11.
  if constexpr (kWideRegisterFile && M <= 11)
    for (; j + 2 <= a.cols; j += 2) finite = fused_sweep_pair<M>(a, j) && finite;
  for (; j < a.cols; ++j) finite = fused_sweep_column<M>(a, j) && finite;
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
