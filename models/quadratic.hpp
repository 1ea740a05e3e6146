#pragma once
/// \file
/// A quadratic energy with a known minimum: the reference problem every solver is tested on.

#include <concepts>
#include <vector>

#include "core/concepts.hpp"
#include "core/error.hpp"

namespace ebm {

/// \f[ E(s) = \tfrac12 (s - \mu)^\top A (s - \mu), \qquad \partial E/\partial s = A (s - \mu), \f]
/// A symmetric positive definite; the unique minimum is s* = μ. The parameters are θ = μ
/// (∂E/∂μ = −A(s − μ)). There is no clamped input (x has zero rows); the cost reads the
/// last `output_size` units.
template <std::floating_point T>
class Quadratic {
 public:
  using Scalar = T;

  Quadratic(Matrix<T> a, Vector<T> mu, Index output_size = -1) : a_(std::move(a)), mu_(std::move(mu)) {
    require<InvalidOptions>(a_.rows() == a_.cols(), "Quadratic: A must be square, got ", a_.rows(), "×", a_.cols());
    require<InvalidOptions>(a_.rows() == mu_.size(), "Quadratic: A is ", a_.rows(), "×", a_.cols(), " but μ has ",
                            mu_.size(), " entries");
    require<InvalidOptions>((a_ - a_.transpose()).cwiseAbs().maxCoeff() <= T(1e-12) * (T(1) + a_.cwiseAbs().maxCoeff()),
                            "Quadratic: A must be symmetric");
    Eigen::SelfAdjointEigenSolver<Matrix<T>> eig(a_);
    require<InvalidOptions>(eig.eigenvalues().minCoeff() > T(0),
                            "Quadratic: A must be positive definite (smallest eigenvalue ",
                            eig.eigenvalues().minCoeff(), ")");
    const Index n = mu_.size();
    output_ = output_size < 0 ? Block{0, n} : Block{n - output_size, output_size};
    blocks_ = {{"mu", 0, n, 1}};
  }

  const Matrix<T>& a() const { return a_; }
  /// The analytic minimum s* = μ.
  const Vector<T>& minimum() const { return mu_; }

  Index state_size() const { return mu_.size(); }
  Index input_size() const { return 0; }
  Block output_block() const { return output_; }
  std::vector<Block> layer_blocks() const { return {Block{0, mu_.size()}}; }

  Vector<T>& params() { return mu_; }
  const Vector<T>& params() const { return mu_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  RowVector<T> energy(ConstRef<T> s, ConstRef<T> x) const {
    check(s, x);
    const Matrix<T> d = s.colwise() - mu_;
    return T(0.5) * (d.array() * (a_ * d).array()).colwise().sum().matrix();
  }
  void state_gradient(ConstRef<T> s, ConstRef<T> x, MutRef<T> g) const {
    check(s, x);
    g.noalias() = a_ * s;
    g.colwise() -= a_ * mu_;
  }
  void param_gradient(ConstRef<T> s, ConstRef<T> x, VectorRef<T> grad) const {
    check(s, x);
    grad.noalias() = -(a_ * ((s.colwise() - mu_).rowwise().sum()));
  }

  /// hv = A v (the Hessian is A everywhere).
  void hessian_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, MutRef<T> hv) const {
    check(s, x);
    hv.noalias() = a_ * v;
  }
  /// g = Mᵀv summed over the batch: ∂E/∂μ = −A(s − μ) moves by −Av.
  void mixed_vector(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, VectorRef<T> grad) const {
    check(s, x);
    grad.noalias() = -(a_ * v.rowwise().sum());
  }

 private:
  void check(const ConstRef<T>& s, const ConstRef<T>& x) const {
    require<DimensionMismatch>(s.rows() == mu_.size(), "state has ", s.rows(), " rows but the quadratic energy has ",
                               mu_.size(), " units");
    require<DimensionMismatch>(x.rows() == 0, "the quadratic energy takes no clamped input, got ", x.rows(), " rows");
  }

  Matrix<T> a_;
  Vector<T> mu_;
  Block output_;
  std::vector<ParamBlock> blocks_;
};

}  // namespace ebm
