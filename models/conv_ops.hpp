#pragma once
/// \file
/// The kernels of a convolutional energy: stride-1 convolution as im2col + GEMM, its transpose
/// (GEMM + col2im), and pooling with its adjoint. Images are stored channel-fastest, one example
/// per column: entry (c, y, x) of an example sits at c + C·(x + W·y), so the GEMM's output
/// C_out × (positions · examples) is already the layout of the next layer.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/types.hpp"

namespace ebm::conv {

/// How pooling windows combine.
enum class PoolKind {
  max,      ///< the largest entry; its subgradient goes to the first largest (see pool())
  average,  ///< the mean of the window (linear)
};

/// One convolution (stride 1) followed by non-overlapping pooling.
struct ConvGeometry {
  Index cin = 1, hin = 1, win = 1;  ///< input channels and size
  Index cout = 1, k = 1, pad = 0;   ///< output channels, kernel size (k × k), zero padding
  Index pool = 1;                   ///< pooling window (pool × pool, stride pool); 1: none
  Index hc() const { return hin + 2 * pad - k + 1; }  ///< convolution output size
  Index wc() const { return win + 2 * pad - k + 1; }
  Index hout() const { return hc() / pool; }  ///< pooled size (floor: PyTorch's)
  Index wout() const { return wc() / pool; }
  Index in_size() const { return cin * hin * win; }
  Index conv_size() const { return cout * hc() * wc(); }  ///< per example, before pooling
  Index out_size() const { return cout * hout() * wout(); }
  Index patch() const { return k * k * cin; }  ///< rows of the im2col matrix, columns of W
  Index positions() const { return hc() * wc(); }
};

/// col (patch × positions·n, column-major) = the patches of n examples of `in` (each example
/// in_size() entries from in + j·in_stride); zeros where the kernel reaches into the padding.
template <class T>
void im2col(const ConvGeometry& g, const T* in, Index in_stride, Index n, T* col) {
  const Index P = g.patch(), hc = g.hc(), wc = g.wc(), C = g.cin;
  for (Index j = 0; j < n; ++j) {
    const T* img = in + j * in_stride;
    for (Index oy = 0; oy < hc; ++oy)
      for (Index ox = 0; ox < wc; ++ox) {
        T* dst = col + ((j * hc + oy) * wc + ox) * P;
        for (Index ky = 0; ky < g.k; ++ky) {
          const Index iy = oy + ky - g.pad;
          for (Index kx = 0; kx < g.k; ++kx, dst += C) {
            const Index ix = ox + kx - g.pad;
            if (iy < 0 || iy >= g.hin || ix < 0 || ix >= g.win) std::fill(dst, dst + C, T(0));
            else std::copy(img + (iy * g.win + ix) * C, img + (iy * g.win + ix + 1) * C, dst);
          }
        }
      }
  }
}

/// out += col2im(col): the adjoint of im2col, each patch entry added back to the pixel it came
/// from (padding entries dropped).
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, Index n, T* out, Index out_stride) {
  const Index P = g.patch(), hc = g.hc(), wc = g.wc(), C = g.cin;
  for (Index j = 0; j < n; ++j) {
    T* img = out + j * out_stride;
    for (Index oy = 0; oy < hc; ++oy)
      for (Index ox = 0; ox < wc; ++ox) {
        const T* src = col + ((j * hc + oy) * wc + ox) * P;
        for (Index ky = 0; ky < g.k; ++ky) {
          const Index iy = oy + ky - g.pad;
          for (Index kx = 0; kx < g.k; ++kx, src += C) {
            const Index ix = ox + kx - g.pad;
            if (iy < 0 || iy >= g.hin || ix < 0 || ix >= g.win) continue;
            T* d = img + (iy * g.win + ix) * C;
            for (Index c = 0; c < C; ++c) d[c] += src[c];
          }
        }
      }
  }
}

/// out = P(z) for n examples: z holds conv_size() entries per example (contiguous), out gets
/// out_size() per example from out + j·out_stride.
///
/// Max pooling's subgradient: P is piecewise linear, ∂P(z)_w/∂z_i = 1 for the i that attains the
/// window's maximum and 0 elsewhere. At a tie the maximum is not differentiable; we take the
/// first index attaining it in the window's row-major scan (a strict > comparison), a vertex of
/// the subdifferential (the convex hull of the tied one-hots), so f(z + d) ≥ f(z) + gᵀd holds for
/// every d. With `use_argmax` the recorded `argmax` (one per pooled entry, an index into the
/// example's z) is reused instead of recomputed: the linearisation at another point, which is
/// what Hessian and mixed products need (P is linear on each piece, its second derivative zero).
template <class T>
void pool(const ConvGeometry& g, PoolKind kind, const T* z, Index n, T* out, Index out_stride, std::int32_t* argmax,
          bool use_argmax) {
  const Index C = g.cout, wc = g.wc(), ho = g.hout(), wo = g.wout(), p = g.pool, per = g.out_size();
  for (Index j = 0; j < n; ++j) {
    const T* zj = z + j * g.conv_size();
    T* oj = out + j * out_stride;
    std::int32_t* aj = argmax ? argmax + j * per : nullptr;
    if (p == 1) {
      std::copy(zj, zj + g.conv_size(), oj);
      continue;
    }
    for (Index oy = 0; oy < ho; ++oy)
      for (Index ox = 0; ox < wo; ++ox) {
        const Index o = (oy * wo + ox) * C;
        if (kind == PoolKind::average) {
          for (Index c = 0; c < C; ++c) oj[o + c] = T(0);
          for (Index dy = 0; dy < p; ++dy)
            for (Index dx = 0; dx < p; ++dx) {
              const T* src = zj + ((oy * p + dy) * wc + ox * p + dx) * C;
              for (Index c = 0; c < C; ++c) oj[o + c] += src[c];
            }
          const T inv = T(1) / T(p * p);
          for (Index c = 0; c < C; ++c) oj[o + c] *= inv;
        } else if (use_argmax) {
          for (Index c = 0; c < C; ++c) oj[o + c] = zj[aj[o + c]];
        } else {
          for (Index c = 0; c < C; ++c) {
            Index best = (oy * p * wc + ox * p) * C + c;
            for (Index dy = 0; dy < p; ++dy)
              for (Index dx = 0; dx < p; ++dx) {
                const Index i = ((oy * p + dy) * wc + ox * p + dx) * C + c;
                if (zj[i] > zj[best]) best = i;
              }
            oj[o + c] = zj[best];
            if (aj) aj[o + c] = std::int32_t(best);
          }
        }
      }
  }
}

/// d = Pᵀ(w): the adjoint of pool() at the recorded argmax, for n examples; d gets conv_size()
/// entries per example (contiguous, overwritten), w has out_size() per example at w + j·w_stride.
template <class T>
void unpool(const ConvGeometry& g, PoolKind kind, const T* w, Index w_stride, Index n, const std::int32_t* argmax,
            T* d) {
  const Index C = g.cout, wc = g.wc(), ho = g.hout(), wo = g.wout(), p = g.pool, per = g.out_size();
  for (Index j = 0; j < n; ++j) {
    const T* wj = w + j * w_stride;
    T* dj = d + j * g.conv_size();
    if (p == 1) {
      std::copy(wj, wj + per, dj);
      continue;
    }
    std::fill(dj, dj + g.conv_size(), T(0));
    if (kind == PoolKind::max) {
      const std::int32_t* aj = argmax + j * per;
      for (Index i = 0; i < per; ++i) dj[aj[i]] += wj[i];
      continue;
    }
    const T inv = T(1) / T(p * p);
    for (Index oy = 0; oy < ho; ++oy)
      for (Index ox = 0; ox < wo; ++ox) {
        const T* src = wj + (oy * wo + ox) * C;
        for (Index dy = 0; dy < p; ++dy)
          for (Index dx = 0; dx < p; ++dx) {
            T* dst = dj + ((oy * p + dy) * wc + ox * p + dx) * C;
            for (Index c = 0; c < C; ++c) dst[c] = src[c] * inv;
          }
      }
  }
}

/// Scratch space of the kernels: the im2col matrix and the pre-pooling output of one block.
template <class T>
struct ConvScratch {
  Matrix<T> col, z, d;
};

/// Examples per im2col block: the block's patch matrix stays near 256 KiB (in cache between the
/// copy and the GEMM). Depends on the geometry only, so results never depend on threads.
inline Index block_examples(const ConvGeometry& g) {
  return std::max<Index>(1, (Index(1) << 16) / std::max<Index>(1, g.patch() * g.positions()));
}

/// out = P(W ⋆ in) for n examples (W: cout × patch, column-major), argmax recorded (max pooling)
/// or reused (`use_argmax`).
template <class T>
void conv_forward(const ConvGeometry& g, PoolKind kind, const Eigen::Map<const Matrix<T>>& w, const T* in,
                  Index in_stride, Index n, T* out, Index out_stride, std::int32_t* argmax, bool use_argmax,
                  ConvScratch<T>& s) {
  const Index nb = block_examples(g);
  for (Index j0 = 0; j0 < n; j0 += nb) {
    const Index m = std::min(nb, n - j0);
    s.col.resize(g.patch(), g.positions() * m);
    im2col(g, in + j0 * in_stride, in_stride, m, s.col.data());
    s.z.resize(g.cout, g.positions() * m);
    s.z.noalias() = w * s.col;
    pool(g, kind, s.z.data(), m, out + j0 * out_stride, out_stride, argmax ? argmax + j0 * g.out_size() : nullptr,
         use_argmax);
  }
}

/// out += Wᵀ ⋆ Pᵀ(up): the transposed convolution of n examples of `up` (pooled-shaped) into the
/// input-shaped `out`, at the recorded argmax.
template <class T>
void conv_transpose_add(const ConvGeometry& g, PoolKind kind, const Eigen::Map<const Matrix<T>>& w, const T* up,
                        Index up_stride, Index n, const std::int32_t* argmax, T* out, Index out_stride,
                        ConvScratch<T>& s) {
  const Index nb = block_examples(g);
  for (Index j0 = 0; j0 < n; j0 += nb) {
    const Index m = std::min(nb, n - j0);
    s.d.resize(g.cout, g.positions() * m);
    unpool(g, kind, up + j0 * up_stride, up_stride, m, argmax ? argmax + j0 * g.out_size() : nullptr, s.d.data());
    s.col.resize(g.patch(), g.positions() * m);
    s.col.noalias() = w.transpose() * s.d;
    col2im_add(g, s.col.data(), m, out + j0 * out_stride, out_stride);
  }
}

/// gw += scale · Σ over n examples of Pᵀ(up) im2col(in)ᵀ: the weight gradient of up · P(W ⋆ in).
template <class T>
void conv_weight_outer_add(const ConvGeometry& g, PoolKind kind, const T* up, Index up_stride, const T* in,
                           Index in_stride, Index n, const std::int32_t* argmax, T scale,
                           Eigen::Map<Matrix<T>>& gw, ConvScratch<T>& s) {
  const Index nb = block_examples(g);
  for (Index j0 = 0; j0 < n; j0 += nb) {
    const Index m = std::min(nb, n - j0);
    s.d.resize(g.cout, g.positions() * m);
    unpool(g, kind, up + j0 * up_stride, up_stride, m, argmax ? argmax + j0 * g.out_size() : nullptr, s.d.data());
    s.col.resize(g.patch(), g.positions() * m);
    im2col(g, in + j0 * in_stride, in_stride, m, s.col.data());
    gw.noalias() += scale * (s.d * s.col.transpose());
  }
}

}  // namespace ebm::conv
