// all_within, largest_magnitude and magnitude_limit against element-by-element references, for
// every length up to past two unrolled blocks (the lanes and the tail) and a bad value at every
// position.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/magnitude_scan.hpp"

namespace {

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2, 2);
  std::vector<T> v(n);
  for (T& x : v) x = T(u(rng));
  return v;
}

template <class T>
bool reference_within(const std::vector<T>& v, T limit) {
  for (T x : v)
    if (!(std::abs(x) <= limit)) return false;
  return true;
}

template <class T>
void check_every_length_and_position() {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  const T finite_max = std::numeric_limits<T>::max();
  for (std::size_t n = 0; n <= 80; ++n) {
    const std::vector<T> clean = random_values<T>(n, unsigned(n));
    T top = 0;
    for (T x : clean) top = std::max(top, std::abs(x));
    EXPECT_EQ(ebm::largest_magnitude(clean.data(), ebm::Index(n)), top) << n;
    EXPECT_TRUE(ebm::all_within(clean.data(), ebm::Index(n), finite_max)) << n;
    EXPECT_EQ(ebm::all_within(clean.data(), ebm::Index(n), T(1)), reference_within(clean, T(1))) << n;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<T> v = clean;
      v[i] = nan;
      EXPECT_FALSE(ebm::all_within(v.data(), ebm::Index(n), finite_max)) << n << ' ' << i;
      EXPECT_TRUE(std::isnan(ebm::largest_magnitude(v.data(), ebm::Index(n)))) << n << ' ' << i;
      v[i] = -inf;
      EXPECT_FALSE(ebm::all_within(v.data(), ebm::Index(n), finite_max)) << n << ' ' << i;
      EXPECT_EQ(ebm::largest_magnitude(v.data(), ebm::Index(n)), inf) << n << ' ' << i;
      v[i] = T(-3);  // finite, beyond a bound of 2.5 that everything else meets
      EXPECT_FALSE(ebm::all_within(v.data(), ebm::Index(n), T(2.5))) << n << ' ' << i;
      EXPECT_EQ(ebm::largest_magnitude(v.data(), ebm::Index(n)), T(3)) << n << ' ' << i;
    }
  }
}

/// LargestMagnitude fed in pieces of every length (tails left in each piece, as the optimizer's
/// blocks at the end of a rate run leave them) gives what one scan of the whole array gives.
template <class T>
void check_pieces() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const std::size_t n = 300;
  std::vector<T> v = random_values<T>(n, 7);
  v[123] = T(-5);  // the largest, in the middle of some piece
  for (std::size_t piece = 1; piece <= 80; ++piece) {
    ebm::LargestMagnitude<T> scan;
    for (std::size_t i = 0; i < n; i += piece) scan.add(v.data() + i, ebm::Index(std::min(piece, n - i)));
    EXPECT_EQ(scan.result(), T(5)) << piece;
    for (const std::size_t at : {std::size_t(0), std::size_t(piece / 2), n - 1}) {
      std::vector<T> w = v;
      w[at] = nan;
      ebm::LargestMagnitude<T> with_nan;
      for (std::size_t i = 0; i < n; i += piece) with_nan.add(w.data() + i, ebm::Index(std::min(piece, n - i)));
      EXPECT_TRUE(std::isnan(with_nan.result())) << piece << ' ' << at;
    }
  }
  EXPECT_EQ(ebm::LargestMagnitude<T>().result(), T(0));  // nothing scanned
}

TEST(MagnitudeScan, InPiecesMatchesOneScanFloat) { check_pieces<float>(); }
TEST(MagnitudeScan, InPiecesMatchesOneScanDouble) { check_pieces<double>(); }

TEST(MagnitudeScan, MatchesTheReferenceForEveryLengthAndPositionFloat) { check_every_length_and_position<float>(); }
TEST(MagnitudeScan, MatchesTheReferenceForEveryLengthAndPositionDouble) { check_every_length_and_position<double>(); }

TEST(MagnitudeScan, LimitNeverRoundsTheBoundUp) {
  for (const double bound : {0.1, 1.0 / 3.0, 1e10, 123456789.123, 1e-40}) {
    const float limit = ebm::magnitude_limit<float>(bound);
    EXPECT_LE(double(limit), bound) << bound;
    EXPECT_GT(double(std::nextafter(limit, std::numeric_limits<float>::infinity())), bound) << bound;
  }
  EXPECT_EQ(ebm::magnitude_limit<float>(1e300), std::numeric_limits<float>::max());
  EXPECT_EQ(ebm::magnitude_limit<double>(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::max());
  EXPECT_LT(ebm::magnitude_limit<double>(-1.0), 0.0);
}

}  // namespace
