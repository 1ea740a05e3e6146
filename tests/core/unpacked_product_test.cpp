// The unpacked product (core/unpacked_product.hpp) against the two things it promises: every entry
// is the chain of multiply-adds over p written out (bit for bit, whatever block, tail or packet
// the entry falls in), and that chain is the product (against Eigen's, in double, within the
// rounding bound of a k-term dot product). Shapes cover every kernel: full row blocks, one-packet
// rows and scalar rows; full column blocks and every narrower last block; k = 0, 1 and the
// lengths training uses (50, 784); both layouts of B (x and xᵀ); leading dimensions wider than
// the matrices, whose extra rows must stay untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/madd.hpp"
#include "core/unpacked_product.hpp"
#include "test_util.hpp"

namespace ebm {
namespace {

template <class T>
struct Case {
  Index m, n, k;
  bool b_transposed;  // B(p, q) stored as a (q, p) entry: the Hebbian product's xᵀ
  T alpha;
};

/// Runs one case with padded leading dimensions; checks every entry bit for bit against the
/// chain, the padding against its sentinel, and (in double) the whole against Eigen's product.
template <class T>
void check(const Case<T>& c, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "m " << c.m << ", n " << c.n << ", k " << c.k << ", B "
                                  << (c.b_transposed ? "transposed" : "as is") << ", alpha " << c.alpha);
  const Index lda = c.m + 3, ldc = c.m + 5;
  const Matrix<T> a = test::uniform_matrix(lda, c.k, -1, 1, seed).template cast<T>();
  // B lives in `store`: k × n as is (B(p, q) = store(p, q)), n × k transposed (= store(q, p)).
  const Index store_rows = (c.b_transposed ? c.n : c.k) + 2;
  const Matrix<T> store =
      test::uniform_matrix(store_rows, c.b_transposed ? c.k : c.n, -1, 1, seed + 1).template cast<T>();
  const Index sk = c.b_transposed ? store_rows : 1, sn = c.b_transposed ? 1 : store_rows;
  auto b = [&](Index p, Index q) { return store.data()[p * sk + q * sn]; };
  const T sentinel = T(12345);
  Matrix<T> out = Matrix<T>::Constant(ldc, c.n, sentinel);
  unpacked_product(c.m, c.n, c.k, a.data(), lda, store.data(), sk, sn, c.alpha, out.data(), ldc);

  Index mismatches = 0;
  for (Index q = 0; q < c.n; ++q) {
    for (Index i = 0; i < c.m; ++i) {
      T chain = T(0);
      for (Index p = 0; p < c.k; ++p) chain = madd(a(i, p), b(p, q), chain);
      const T expected = c.alpha * chain;
      if (std::memcmp(&expected, &out(i, q), sizeof(T)) != 0 && ++mismatches <= 3)
        ADD_FAILURE() << "entry (" << i << ", " << q << "): " << out(i, q) << ", the chain gives " << expected;
    }
    for (Index i = c.m; i < ldc; ++i) ASSERT_EQ(out(i, q), sentinel) << "row " << i << " is past C's rows";
  }
  EXPECT_EQ(mismatches, 0);

  // The chain is a dot product: within γ_k Σ|a||b| of the exact one (Eigen's, in double,
  // is exact to far below that for these sizes).
  const Eigen::MatrixXd ad = a.topRows(c.m).template cast<double>();
  Eigen::MatrixXd bd(c.k, c.n);
  for (Index p = 0; p < c.k; ++p)
    for (Index q = 0; q < c.n; ++q) bd(p, q) = double(b(p, q));
  const Eigen::MatrixXd exact = double(c.alpha) * ad * bd;
  const Eigen::MatrixXd bound = std::abs(double(c.alpha)) * ad.cwiseAbs() * bd.cwiseAbs();
  const double gamma = double(c.k + 1) * double(std::numeric_limits<T>::epsilon());
  for (Index q = 0; q < c.n; ++q)
    for (Index i = 0; i < c.m; ++i)
      ASSERT_LE(std::abs(double(out(i, q)) - exact(i, q)), gamma * bound(i, q) + 1e-300)
          << "entry (" << i << ", " << q << ")";
}

template <class T>
void sweep_shapes() {
  std::uint64_t seed = 1;
  // Rows: below one packet, one packet and a bit, every block size with a tail, W₁'s 512.
  for (Index m : {1, 5, 8, 16, 17, 23, 48, 63, 64, 65, 100})
    for (Index n : {1, 2, 4, 5, 6, 7, 11, 12, 13})
      for (Index k : {0, 1, 3, 50}) check<T>({m, n, k, (m + n) % 2 == 0, T(1)}, seed++);
  for (bool transposed : {false, true})
    for (T alpha : {T(1), T(-1), T(0.375)}) check<T>({130, 9, 17, transposed, alpha}, seed++);
  // The two products of a 784-512-10 training step: W₁x and δ₁ x[cols]ᵀ.
  check<T>({512, 50, 784, false, T(1)}, seed++);
  check<T>({512, 64, 50, true, T(-1)}, seed++);
}

TEST(UnpackedProduct, EveryEntryIsItsChainOfMultiplyAddsInFloat) { sweep_shapes<float>(); }
TEST(UnpackedProduct, EveryEntryIsItsChainOfMultiplyAddsInDouble) { sweep_shapes<double>(); }

TEST(UnpackedProduct, TilesOfRowsOrColumnsGiveTheWholeProductsBits) {
  // A trainer computes W₁x in tiles of rows and the Hebbian product in tiles of columns: the
  // bits must not depend on the cut (the same result for any number of threads).
  const Index m = 77, n = 19, k = 41;
  const Matrix<float> a = test::uniform_matrix(m, k, -1, 1, 7).cast<float>();
  const Matrix<float> b = test::uniform_matrix(k, n, -1, 1, 8).cast<float>();
  Matrix<float> whole(m, n), tiled(m, n);
  unpacked_product(m, n, k, a.data(), m, b.data(), 1, k, 1.0f, whole.data(), m);
  for (Index first = 0; first < m; first += 20) {
    const Index rows = std::min<Index>(20, m - first);
    for (Index col = 0; col < n; col += 7) {
      const Index cols = std::min<Index>(7, n - col);
      unpacked_product(rows, cols, k, a.data() + first, m, b.data() + col * k, 1, k, 1.0f,
                       tiled.data() + first + col * m, m);
    }
  }
  EXPECT_EQ(std::memcmp(whole.data(), tiled.data(), sizeof(float) * std::size_t(m * n)), 0);
}

TEST(UnpackedProduct, RangesOfKContinuedGiveTheWholeProductsBits) {
  // The trainer's pipelined drive cuts W₁x along k: the first range from zero, each next one
  // continuing every entry's chain from the last (unpacked_product_continue, α = 1). Cuts at
  // every kind of place (k = 0 ranges, single terms, uneven lengths), every kernel (full row
  // blocks, one-packet rows, scalar rows; full and narrower column blocks), float and double.
  auto check_cuts = [](auto zero, Index m, Index n, Index k, std::vector<Index> cuts, float alpha) {
    using T = decltype(zero);
    SCOPED_TRACE(testing::Message() << "m " << m << ", n " << n << ", k " << k << ", alpha " << alpha);
    const Matrix<T> a = test::uniform_matrix(m, k, -1, 1, 17).template cast<T>();
    const Matrix<T> b = test::uniform_matrix(k, n, -1, 1, 18).template cast<T>();
    Matrix<T> whole(m, n), staged(m, n);
    unpacked_product(m, n, k, a.data(), m, b.data(), 1, k, T(alpha), whole.data(), m);
    cuts.insert(cuts.begin(), 0);
    cuts.push_back(k);
    for (std::size_t s = 0; s + 1 < cuts.size(); ++s) {
      const Index k0 = cuts[s], kn = cuts[s + 1] - cuts[s];
      const T stage_alpha = s + 2 == cuts.size() ? T(alpha) : T(1);  // α once, at the end
      if (s == 0)
        unpacked_product(m, n, kn, a.data(), m, b.data(), 1, k, stage_alpha, staged.data(), m);
      else
        unpacked_product_continue(m, n, kn, a.data() + k0 * m, m, b.data() + k0, 1, k, stage_alpha, staged.data(), m);
    }
    EXPECT_EQ(std::memcmp(whole.data(), staged.data(), sizeof(T) * std::size_t(m * n)), 0);
    // A continued range is not a fresh one: from zero, the last range alone differs.
    Matrix<T> last(m, n);
    const Index k0 = cuts[cuts.size() - 2];
    if (k0 > 0 && k0 < k) {
      unpacked_product(m, n, k - k0, a.data() + k0 * m, m, b.data() + k0, 1, k, T(alpha), last.data(), m);
      EXPECT_NE(std::memcmp(whole.data(), last.data(), sizeof(T) * std::size_t(m * n)), 0);
    }
  };
  for (Index m : {7, 16, 70, 128})
    for (Index n : {1, 5, 6, 13}) {
      check_cuts(0.0f, m, n, 784, {384}, 1.0f);
      check_cuts(0.0, m, n, 784, {256, 512, 768}, 1.0f);
      check_cuts(0.0f, m, n, 41, {0, 1, 1, 20}, -1.0f);
      check_cuts(0.0, m, n, 41, {40}, 0.375f);
    }
}

}  // namespace
}  // namespace ebm
