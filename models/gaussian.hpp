#pragma once
/// \file
/// A Gaussian energy with learnable precision and mean: the reference problem of Boltzmann-style
/// learning under Langevin dynamics (THEORY.md §7), whose laws are known in closed form.

#include <concepts>
#include <vector>

#include "core/concepts.hpp"
#include "core/error.hpp"

namespace ebm {

/// \f[ E(s) = \tfrac12 s^\top A s - b^\top s, \f]
/// A symmetric positive definite. At temperature T, p(s) ∝ e^{−E/T} is N(A⁻¹b, T A⁻¹). The
/// parameters are θ = (b, the upper triangle of A row by row: A₁₁, A₁₂, …, A₂₂, …), each
/// off-diagonal entry counted once for the symmetric pair, so ∂E/∂b = −s, ∂E/∂A_ii = ½s_i²,
/// ∂E/∂A_ij = s_i s_j (i < j). The first `visible` units are the output (the units clamped to the
/// data); there is no clamped input (x has zero rows).
template <std::floating_point T>
class GaussianEnergy {
 public:
  using Scalar = T;

  GaussianEnergy(const Matrix<T>& a, Vector<T> b, Index visible = 1) : n_(b.size()), visible_(visible) {
    require<InvalidOptions>(a.rows() == n_ && a.cols() == n_, "GaussianEnergy: A must be ", n_, "×", n_);
    require<InvalidOptions>(visible >= 1 && visible <= n_, "GaussianEnergy: visible must be in [1, ", n_, "]");
    params_.resize(n_ + n_ * (n_ + 1) / 2);
    params_.head(n_) = b;
    Index k = n_;
    for (Index i = 0; i < n_; ++i)
      for (Index j = i; j < n_; ++j) params_(k++) = a(i, j);
    blocks_ = {{"b", 0, n_, 1}, {"A", n_, n_ * (n_ + 1) / 2, 1}};
  }

  /// The precision A (symmetric) and the linear term b from the parameters.
  Matrix<T> a() const {
    Matrix<T> m(n_, n_);
    Index k = n_;
    for (Index i = 0; i < n_; ++i)
      for (Index j = i; j < n_; ++j) m(i, j) = m(j, i) = params_(k++);
    return m;
  }
  Vector<T> b() const { return params_.head(n_); }

  Index state_size() const { return n_; }
  Index input_size() const { return 0; }
  Block output_block() const { return {0, visible_}; }
  std::vector<Block> layer_blocks() const { return {Block{0, n_}}; }

  Vector<T>& params() { return params_; }
  const Vector<T>& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  RowVector<T> energy(ConstRef<T> s, ConstRef<T>) const {
    const Matrix<T> as = a() * s;
    return (T(0.5) * (s.array() * as.array()).colwise().sum().matrix() - b().transpose() * s).eval();
  }
  void state_gradient(ConstRef<T> s, ConstRef<T>, MutRef<T> g) const {
    g.noalias() = a() * s;
    g.colwise() -= b();
  }
  void param_gradient(ConstRef<T> s, ConstRef<T>, VectorRef<T> grad) const {
    grad.head(n_) = -s.rowwise().sum();
    Index k = n_;
    for (Index i = 0; i < n_; ++i)
      for (Index j = i; j < n_; ++j)
        grad(k++) = (i == j ? T(0.5) : T(1)) * (s.row(i).array() * s.row(j).array()).sum();
  }

 private:
  Index n_, visible_;
  Vector<T> params_;
  std::vector<ParamBlock> blocks_;
};

}  // namespace ebm
