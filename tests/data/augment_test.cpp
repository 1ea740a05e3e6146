#include "data/augment.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace ebm {
namespace {

Augmentation shape(Index channels, Index height, Index width) {
  Augmentation a;
  a.channels = channels;
  a.height = height;
  a.width = width;
  return a;
}

// Pixel (y, x, c) of an image holding distinct values: 1 + its flat index.
Matrix<double> numbered(Index pixels, Index columns) {
  Matrix<double> x(pixels, columns);
  for (Index j = 0; j < columns; ++j)
    for (Index i = 0; i < pixels; ++i) x(i, j) = double(1 + i + 1000 * j);
  return x;
}

TEST(Augment, TranslatesWithZeroPaddingChannelFastest) {
  const Augmentation a = shape(2, 3, 4);
  Matrix<double> x = numbered(24, 1);
  const Matrix<double> original = x;
  std::vector<double> scratch;
  apply_augment(a, AugmentDraw{1, -2, false}, x.col(0).data(), scratch);  // one row down, two columns left
  for (Index y = 0; y < 3; ++y)
    for (Index col = 0; col < 4; ++col)
      for (Index c = 0; c < 2; ++c) {
        const Index from_y = y - 1, from_x = col + 2;
        const double expected =
            (from_y >= 0 && from_x < 4) ? original((from_y * 4 + from_x) * 2 + c, 0) : 0.0;
        EXPECT_EQ(x((y * 4 + col) * 2 + c, 0), expected) << y << ' ' << col << ' ' << c;
      }
}

TEST(Augment, MirrorsAfterTranslatingAndTwoMirrorsAreTheImage) {
  const Augmentation a = shape(1, 2, 5);
  Matrix<double> x = numbered(10, 1);
  const Matrix<double> original = x;
  std::vector<double> scratch;
  apply_augment(a, AugmentDraw{0, 0, true}, x.col(0).data(), scratch);
  for (Index y = 0; y < 2; ++y)
    for (Index col = 0; col < 5; ++col) EXPECT_EQ(x(y * 5 + col, 0), original(y * 5 + (4 - col), 0));
  apply_augment(a, AugmentDraw{0, 0, true}, x.col(0).data(), scratch);
  EXPECT_EQ(x, original);
  // Shift right by one, then mirror: column c shows the translated image's column 4 − c.
  apply_augment(a, AugmentDraw{0, 1, true}, x.col(0).data(), scratch);
  for (Index y = 0; y < 2; ++y)
    for (Index col = 0; col < 5; ++col) {
      const Index from = (4 - col) - 1;
      EXPECT_EQ(x(y * 5 + col, 0), from >= 0 ? original(y * 5 + from, 0) : 0.0);
    }
}

TEST(Augment, DrawsEveryShiftAndBothMirrorsFromItsOwnStream) {
  Augmentation a = shape(1, 8, 8);
  a.shift = 2;
  a.flip = true;
  std::set<std::pair<int, int>> shifts;
  int mirrored = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const AugmentDraw d = augment_draw(a, 3, i);
    ASSERT_GE(d.down, -2);
    ASSERT_LE(d.down, 2);
    ASSERT_GE(d.right, -2);
    ASSERT_LE(d.right, 2);
    shifts.insert({d.down, d.right});
    mirrored += d.mirror;
  }
  EXPECT_EQ(shifts.size(), 25u);
  EXPECT_NEAR(double(mirrored) / n, 0.5, 4 * 0.5 / std::sqrt(double(n)));  // 4 standard deviations
  // A function of (seed, epoch, example) only: the same draw again, another for another epoch or seed.
  int same_epoch = 0, other_epoch = 0, other_seed = 0;
  Augmentation b = a;
  b.seed = a.seed + 1;
  for (int i = 0; i < 200; ++i) {
    const AugmentDraw d = augment_draw(a, 3, i), again = augment_draw(a, 3, i), e = augment_draw(a, 4, i),
                      s = augment_draw(b, 3, i);
    same_epoch += d.down == again.down && d.right == again.right && d.mirror == again.mirror;
    other_epoch += d.down == e.down && d.right == e.right && d.mirror == e.mirror;
    other_seed += d.down == s.down && d.right == s.right && d.mirror == s.mirror;
  }
  EXPECT_EQ(same_epoch, 200);
  EXPECT_LT(other_epoch, 40);  // 1/50 chance each: 4 expected
  EXPECT_LT(other_seed, 40);
}

TEST(Augment, InPiecesIsTheWhole) {
  Augmentation a = shape(1, 6, 5);
  a.shift = 2;
  a.flip = true;
  const std::vector<Index> indices{7, 2, 19, 4, 4, 11, 0};
  Matrix<double> whole = numbered(30, 7), pieces = whole;
  augment_part(a, indices, 5, 0, 7, whole);
  augment_part(a, indices, 5, 4, 3, pieces);
  augment_part(a, indices, 5, 0, 4, pieces);
  EXPECT_EQ(whole, pieces);
  // Example 4 sits in columns 3 and 4 (whose pixels differ by 1000): the same draw moves both.
  for (Index i = 0; i < 30; ++i) EXPECT_EQ(whole(i, 4), whole(i, 3) == 0 ? 0.0 : whole(i, 3) + 1000) << i;
  EXPECT_NE(whole, numbered(30, 7));
}

TEST(Augment, InactiveChangesNothingAndBadShapesAreRefused) {
  Augmentation a;  // no shape, nothing asked
  Matrix<double> x = numbered(12, 2);
  const Matrix<double> original = x;
  const std::vector<Index> indices{0, 1};
  a.validate(12);
  augment_part(a, indices, 0, 0, 2, x);
  EXPECT_EQ(x, original);
  a.shift = 1;
  EXPECT_THROW(a.validate(12), InvalidOptions);  // a shift needs the shape
  a = shape(1, 3, 4);
  a.flip = true;
  a.validate(12);
  EXPECT_THROW(a.validate(13), InvalidOptions);  // 3 × 4 is not 13 pixels
  a.shift = 3;
  EXPECT_THROW(a.validate(12), InvalidOptions);  // not less than the height
  a.shift = -1;
  EXPECT_THROW(a.validate(12), InvalidOptions);
}

}  // namespace
}  // namespace ebm
