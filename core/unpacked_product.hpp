#pragma once
/// \file
/// C = α·A·B for the two products a training step of a wide first layer spends its GEMM time on,
/// without the copies a general GEMM makes of its operands first.
///
/// Why: Eigen's GEMM packs both operands into blocked buffers before it multiplies. For the input
/// drive W₁x of a minibatch (512 × 784 by 784 × 50) that is a copy of all of W₁, 1.6 MB, for 40
/// MFLOP of work, and the parameters change after every minibatch, so the copy cannot be kept. For
/// the W₁ tiles of the Hebbian difference, δ₁xᵀ (512 × 50 by 50 × 64), it is a copy of δ₁ per
/// tile. The packing took a fifth as long as the products themselves (an epoch's profile: 8.7%
/// against 33%). Here the micro-kernel reads A's columns where they are (contiguous, as the
/// packed panel would be) and broadcasts B's entries from wherever they are (strides sk, sn), so
/// one routine serves B = x and B = xᵀ.
///
/// Every entry is one chain of multiply-adds over p = 0, …, k − 1 from zero, then a product by
/// α: the order of a dot product written out, the same in a vector lane and in the scalar tail
/// (core/madd.hpp), so it does not depend on where an entry falls in the blocking, on the packet
/// size, or on how the caller cuts the product into tiles.

#include <algorithm>

#include <Eigen/Core>

#include "core/madd.hpp"
#include "core/small_products.hpp"
#include "core/types.hpp"

namespace ebm {

/// Columns of C in one register block: a caller that cuts a product by columns (the trainer's
/// pipelined drive) cuts at multiples of it, so that its parts run the blocks of the whole.
inline constexpr Index kUnpackedProductColumns = 6;

namespace detail {

inline constexpr Index kPrefetchAhead = 8;

/// Rows [0, MR·ps) × columns [0, NR) of C: MR packets of rows by NR columns in registers.
template <int MR, int NR, bool Continue, class T>
inline void unpacked_block(Index k, const T* __restrict a, Index lda, const T* __restrict b, Index sk, Index sn,
                           T alpha, T* __restrict c, Index ldc) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  P acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NR; ++q) acc[r][q] = Continue ? ploadu<P>(c + q * ldc + r * ps) : pset1<P>(T(0));
  for (Index p = 0; p < k; ++p) {
    // A's columns are a column stride apart (2 KiB for W₁), too far for the hardware prefetcher
    // to follow: fetch them kPrefetchAhead steps early (measured on W₁x: 105 → 155 GFLOP/s).
    const T* ahead = a + std::min(p + kPrefetchAhead, k - 1) * lda;
    for (int r = 0; r < MR; ++r) __builtin_prefetch(ahead + r * ps);
    P av[MR];
    for (int r = 0; r < MR; ++r) av[r] = ploadu<P>(a + p * lda + r * ps);
    const T* bp = b + p * sk;
    for (int q = 0; q < NR; ++q) {
      const P bq = pset1<P>(bp[q * sn]);
      for (int r = 0; r < MR; ++r) acc[r][q] = pmadd(av[r], bq, acc[r][q]);
    }
  }
  const P pa = pset1<P>(alpha);
  for (int q = 0; q < NR; ++q)
    for (int r = 0; r < MR; ++r) pstoreu(c + q * ldc + r * ps, pmul(pa, acc[r][q]));
}

/// One row of C's columns [0, n): the scalar tail, in the same order as a lane.
template <bool Continue, class T>
inline void unpacked_row(Index n, Index k, const T* a, Index lda, const T* b, Index sk, Index sn, T alpha, T* c,
                         Index ldc) {
  for (Index q = 0; q < n; ++q) {
    T acc = Continue ? c[q * ldc] : T(0);
    for (Index p = 0; p < k; ++p) acc = madd(a[p * lda], b[p * sk + q * sn], acc);
    c[q * ldc] = alpha * acc;
  }
}

/// The last w < NR columns in one block of width w: one more pass over A's rows, not w.
template <int MR, int W, bool Continue, class T>
inline void unpacked_last(Index w, Index k, const T* a, Index lda, const T* b, Index sk, Index sn, T alpha, T* c,
                          Index ldc) {
  if constexpr (W >= 1) {
    if (w == W) return unpacked_block<MR, W, Continue>(k, a, lda, b, sk, sn, alpha, c, ldc);
    unpacked_last<MR, W - 1, Continue>(w, k, a, lda, b, sk, sn, alpha, c, ldc);
  }
}

/// Rows [0, MR·ps) of C, all n columns: NR at a time, then the rest at once.
template <int MR, int NR, bool Continue, class T>
inline void unpacked_rows(Index n, Index k, const T* a, Index lda, const T* b, Index sk, Index sn, T alpha, T* c,
                          Index ldc) {
  Index q = 0;
  for (; q + NR <= n; q += NR)
    unpacked_block<MR, NR, Continue>(k, a, lda, b + q * sn, sk, sn, alpha, c + q * ldc, ldc);
  if (q < n) unpacked_last<MR, NR - 1, Continue>(n - q, k, a, lda, b + q * sn, sk, sn, alpha, c + q * ldc, ldc);
}

template <bool Continue, class T>
void unpacked_product(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index sk, Index sn, T alpha,
                      T* c, Index ldc) {
  constexpr int ps = kPacketSize<T>;
  constexpr int MR = kWideRegisterFile ? 4 : 2;
  constexpr int NR = int(kUnpackedProductColumns);
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // empty sums, and A or B may be null: no offsets from them (UBSan)
    for (Index q = 0; q < n; ++q)
      for (Index i = 0; i < m; ++i) c[i + q * ldc] = alpha * (Continue ? c[i + q * ldc] : T(0));
    return;
  }
  Index i = 0;
  for (; i + MR * ps <= m; i += MR * ps) unpacked_rows<MR, NR, Continue>(n, k, a + i, lda, b, sk, sn, alpha, c + i, ldc);
  for (; i + ps <= m; i += ps) unpacked_rows<1, NR, Continue>(n, k, a + i, lda, b, sk, sn, alpha, c + i, ldc);
  for (; i < m; ++i) unpacked_row<Continue>(n, k, a + i, lda, b, sk, sn, alpha, c + i, ldc);
}

}  // namespace detail

/// C (m × n, column-major, leading dimension ldc) = α·A·B, A m × k column-major (lda), B(p, q) =
/// b[p·sk + q·sn]. C must not overlap A or B.
///
/// Blocks of 4 packets of rows by 6 columns with 32 vector registers (AVX-512), 2 by 6 with 16
/// (AVX2): 24 or 12 accumulators. Measured with AVX2 on a 128-row tile of W₁x and on the W₁
/// tiles of δ₁xᵀ: 2 × 6 reached 67 and 85 GFLOP/s against Eigen's 66 and 73; 3 × 4 (Eigen's own
/// block) only 57 and 53, with broadcasts from unpacked B.
template <class T>
void unpacked_product(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index sk, Index sn, T alpha,
                      T* c, Index ldc) {
  detail::unpacked_product<false>(m, n, k, a, lda, b, sk, sn, alpha, c, ldc);
}

/// C = α·(C + A·B), each entry's chain of multiply-adds continuing from C's value rather than
/// from zero: a product cut along k into ranges, each continued from the last with α = 1 (the
/// first by unpacked_product), gives the bits of the whole product in one call, so the ranges can
/// be done by different threads in turn (the input drive's pipeline, training/trainer.hpp).
template <class T>
void unpacked_product_continue(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index sk, Index sn,
                               T alpha, T* c, Index ldc) {
  detail::unpacked_product<true>(m, n, k, a, lda, b, sk, sn, alpha, c, ldc);
}

}  // namespace ebm
