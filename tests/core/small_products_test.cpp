// The small-product kernels against Eigen's own products, at sizes that exercise every tail
// (rows not a multiple of the packet, columns not a multiple of the register block), in float
// and double, with the operands as sub-blocks of larger matrices (outer strides).
#include <gtest/gtest.h>

#include "core/small_products.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

template <class T>
Matrix<T> random(Index rows, Index cols, std::uint64_t seed) {
  return test::uniform_matrix(rows, cols, -1, 1, seed).cast<T>();
}

/// Rounding bound of a K-term dot product of entries in [−1, 1], with margin: K·ε per entry.
template <class T>
double tolerance(Index inner) {
  return 4.0 * double(inner + 1) * double(std::numeric_limits<T>::epsilon());
}

template <class T>
void check_inner(Index m, Index inner, Index n) {
  const Matrix<T> a = random<T>(m, inner, 1);
  const Matrix<T> big_b = random<T>(inner + 3, n + 2, 2);  // b is a block with an outer stride
  const auto b = big_b.block(1, 1, inner, n);
  const Matrix<T> init = random<T>(m, n, 3);
  Matrix<T> out = Matrix<T>::Constant(m, n, T(99));
  small_inner_product(a, b, init, true, out);
  const Matrix<T> expected = init + a * b;
  EXPECT_LE(double((out - expected).cwiseAbs().maxCoeff()), tolerance<T>(inner)) << m << "×" << inner << "×" << n;

  Matrix<T> no_init = Matrix<T>::Constant(m, n, T(99));
  small_inner_product(a, b, init, false, no_init);
  EXPECT_LE(double((no_init - a * b).cwiseAbs().maxCoeff()), tolerance<T>(inner));

  // In place, as the Hopfield gradient uses it: out = out + A·B.
  Matrix<T> acc = init;
  small_inner_product(a, b, acc, true, acc);
  EXPECT_LE(double((acc - expected).cwiseAbs().maxCoeff()), tolerance<T>(inner));
}

template <class T>
void check_outer(Index m, Index inner, Index n) {
  const Matrix<T> at = random<T>(inner, m, 4);  // A = atᵀ, m × inner
  const Matrix<T> big_b = random<T>(inner + 2, n + 1, 5);
  const auto b = big_b.block(2, 1, inner, n);
  Matrix<T> big_out = Matrix<T>::Constant(m + 3, n, T(99));
  auto out = big_out.middleRows(1, m);  // an output with an outer stride; rows around it untouched
  small_outer_product(at, b, out);
  const Matrix<T> expected = at.transpose() * b;
  EXPECT_LE(double((Matrix<T>(out) - expected).cwiseAbs().maxCoeff()), tolerance<T>(inner))
      << m << "×" << inner << "×" << n;
  EXPECT_EQ(big_out(0, 0), T(99));
  EXPECT_EQ(big_out(m + 2, n - 1), T(99));
}

TEST(SmallProducts, InnerProductMatchesEigenAtEveryTail) {
  for (Index m : {1, 7, 8, 15, 16, 17, 40, 512})
    for (Index inner : {1, 3, 10, 16})
      for (Index n : {1, 3, 4, 5, 25}) {
        check_inner<float>(m, inner, n);
        check_inner<double>(m, inner, n);
      }
}

TEST(SmallProducts, OuterProductMatchesEigenAtEveryTail) {
  for (Index m : {1, 3, 4, 5, 10, 16})
    for (Index inner : {1, 7, 8, 9, 33, 512})
      for (Index n : {1, 2, 3, 25}) {
        check_outer<float>(m, inner, n);
        check_outer<double>(m, inner, n);
      }
}

}  // namespace
}  // namespace ebm
