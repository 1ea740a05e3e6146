#pragma once
/// \file
/// a·b + c rounded the way Eigen's packet pmadd rounds it in this build: once where the target
/// has FMA instructions, twice otherwise. Scalar code that must agree bit for bit with packet
/// code (the tails of the small-product kernels, the fused sweep, the hard sigmoid's chain rule)
/// calls it instead of writing a * b + c, which GCC contracts into an FMA or not depending on
/// the optimisation level and on whether it vectorises the loop.

#include <cmath>

namespace ebm {

template <class T>
inline T madd(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

}  // namespace ebm
