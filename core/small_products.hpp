#pragma once
/// \file
/// Matrix products with one small dimension, the shape of every relaxation step of a network
/// with a narrow layer (the 10 output units of a classifier): W₂ρ(s₁) is 10 × 512 by 512 × b
/// and W₂ᵀρ(s₂) is 512 × 10 by 10 × b. Eigen's GEMM packs both operands on every call and
/// blocks for large sizes, which costs more than the arithmetic here (seen: about a third of
/// its peak); these kernels keep a register block of the output and read the operands in
/// place. For a narrow layer both products read Wᵀ stored column-major (W's rows contiguous):
/// W₂ᵀρ(s₂) = small_inner_product(Wᵀ, …) and W₂ρ(s₁) = small_outer_product(Wᵀ, …); a model
/// keeps that copy for the duration of a relaxation.
/// The scalar tails round a·b + c as the packets do (core/madd.hpp), so that the fused sweep
/// (core/fused_sweep.hpp) can match these kernels bit for bit.

#include <type_traits>

#include <Eigen/Core>

#include "core/madd.hpp"
#include "core/types.hpp"

namespace ebm {

namespace detail {

template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
inline constexpr int kPacketSize = Eigen::internal::unpacket_traits<Packet<T>>::size;
/// Whether the target has 32 vector registers (AVX-512) rather than 16: how large a register
/// block the kernels here, the fused sweep's and the unpacked product's can keep.
inline constexpr bool kWideRegisterFile =
#ifdef EIGEN_VECTORIZE_AVX512
    true;
#else
    false;
#endif

/// out[:, j0 : j0+C] rows i0 : i0 + R·ps of  init + A·B, A (m × K) given by its columns a + k·lda.
template <int R, int C, class T>
inline void small_inner_block(const T* a, Index lda, Index inner, const T* b, Index ldb, const T* init, Index ldi,
                              T* out, Index ldo, Index i0, Index j0) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  P acc[R][C];
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < R; ++r)
      acc[r][c] = init ? ploadu<P>(init + i0 + r * ps + (j0 + c) * ldi) : pset1<P>(T(0));
  for (Index k = 0; k < inner; ++k) {
    P ak[R];
    for (int r = 0; r < R; ++r) ak[r] = ploadu<P>(a + i0 + r * ps + k * lda);
    for (int c = 0; c < C; ++c) {
      const P bk = pset1<P>(b[k + (j0 + c) * ldb]);
      for (int r = 0; r < R; ++r) acc[r][c] = pmadd(ak[r], bk, acc[r][c]);
    }
  }
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < R; ++r) pstoreu(out + i0 + r * ps + (j0 + c) * ldo, acc[r][c]);
}

/// Rows i0 : i0 + R·ps of the product, every column.
template <int R, class T>
inline void small_inner_rows(const T* a, Index lda, Index inner, const T* b, Index ldb, const T* init, Index ldi,
                             T* out, Index ldo, Index i0, Index n) {
  Index j = 0;
  for (; j + 4 <= n; j += 4) small_inner_block<R, 4>(a, lda, inner, b, ldb, init, ldi, out, ldo, i0, j);
  for (; j < n; ++j) small_inner_block<R, 1>(a, lda, inner, b, ldb, init, ldi, out, ldo, i0, j);
}

/// out(i, j) = Σ_k at(k, i) b(k, j) for rows i0 : i0 + R, columns j0 : j0 + C (dot products of
/// contiguous rows of A with contiguous columns of B).
template <int R, int C, class T>
inline void small_outer_block(const T* at, Index ldat, Index inner, const T* b, Index ldb, T* out, Index ldo,
                              Index i0, Index j0) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr int ps = kPacketSize<T>;
  P acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = pset1<P>(T(0));
  Index k = 0;
  for (; k + ps <= inner; k += ps) {
    P bk[C];
    for (int c = 0; c < C; ++c) bk[c] = ploadu<P>(b + k + (j0 + c) * ldb);
    for (int r = 0; r < R; ++r) {
      const P ak = ploadu<P>(at + k + (i0 + r) * ldat);
      for (int c = 0; c < C; ++c) acc[r][c] = pmadd(ak, bk[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      T sum = predux(acc[r][c]);
      for (Index kk = k; kk < inner; ++kk) sum = madd(at[kk + (i0 + r) * ldat], b[kk + (j0 + c) * ldb], sum);
      out[i0 + r + (j0 + c) * ldo] = sum;
    }
}

/// Rows i0 : i0 + R, every column, in blocks of 8/R columns: eight independent accumulators
/// hide the latency of the fused multiply-adds whatever R is.
template <int R, class T>
inline void small_outer_rows(const T* at, Index ldat, Index inner, const T* b, Index ldb, T* out, Index ldo, Index i0,
                             Index n) {
  constexpr int C = 8 / R;
  Index j = 0;
  for (; j + C <= n; j += C) small_outer_block<R, C>(at, ldat, inner, b, ldb, out, ldo, i0, j);
  for (; j < n; ++j) small_outer_block<R, 1>(at, ldat, inner, b, ldb, out, ldo, i0, j);
}

}  // namespace detail

/// out = init + A·B where A has few columns (the inner dimension is small, at most a few dozen):
/// A is m × K, B is K × n, init is m × n (ignored when `use_init` is false). Each entry of `out`
/// is written once.
template <class T, class OutT, class InitT>
void small_inner_product(const Matrix<T>& a, std::type_identity_t<ConstRef<T>> b, const InitT& init, bool use_init, OutT&& out) {
  constexpr int ps = detail::kPacketSize<T>;
  const Index m = a.rows(), inner = a.cols(), n = b.cols();
  const T* ip = use_init ? init.data() : nullptr;
  const Index ldi = use_init ? init.outerStride() : 0;
  Index i = 0;
  for (; i + 2 * ps <= m; i += 2 * ps)
    detail::small_inner_rows<2>(a.data(), m, inner, b.data(), b.outerStride(), ip, ldi, out.data(),
                                out.outerStride(), i, n);
  for (; i + ps <= m; i += ps)
    detail::small_inner_rows<1>(a.data(), m, inner, b.data(), b.outerStride(), ip, ldi, out.data(),
                                out.outerStride(), i, n);
  for (; i < m; ++i)  // the last rows, fewer than a packet
    for (Index j = 0; j < n; ++j) {
      T sum = use_init ? init(i, j) : T(0);
      for (Index k = 0; k < inner; ++k) sum = madd(a(i, k), b(k, j), sum);
      out(i, j) = sum;
    }
}

/// out = A·B where A = atᵀ has few rows (m small): A is m × K, B is K × n, `at` is K × m
/// (A's rows as its contiguous columns).
template <class T, class OutT>
void small_outer_product(const Matrix<T>& at, std::type_identity_t<ConstRef<T>> b, OutT&& out) {
  const Index m = at.cols(), inner = at.rows(), n = b.cols();
  Index i = 0;
  for (; i + 4 <= m; i += 4)
    detail::small_outer_rows<4>(at.data(), inner, inner, b.data(), b.outerStride(), out.data(), out.outerStride(), i, n);
  for (; i + 2 <= m; i += 2)
    detail::small_outer_rows<2>(at.data(), inner, inner, b.data(), b.outerStride(), out.data(), out.outerStride(), i, n);
  for (; i < m; ++i)
    detail::small_outer_rows<1>(at.data(), inner, inner, b.data(), b.outerStride(), out.data(), out.outerStride(), i, n);
}

}  // namespace ebm
