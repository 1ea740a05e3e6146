// Seeded shuffles, validation splits and minibatches: deterministic, complete, disjoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/split.hpp"

namespace {

ebm::LabelledImages<float> numbered(ebm::Index n) {
  ebm::LabelledImages<float> d;
  d.images.resize(2, n);
  for (ebm::Index j = 0; j < n; ++j) {
    d.images(0, j) = float(j);
    d.images(1, j) = -float(j);
    d.labels.push_back(int(j % 10));
  }
  return d;
}

// A trainer gathers the next minibatch in pieces, in parallel (gather_part): the pieces make what
// gather() makes, pixels and one-hot targets, for any cut.
TEST(Gather, InPiecesIsTheGather) {
  const auto data = numbered(40);
  const std::vector<ebm::Index> indices = {7, 31, 2, 2, 19, 0, 39};
  Eigen::MatrixXf x, target;
  ebm::gather(data, indices, x, target);
  for (const ebm::Index piece : {1, 3, 7}) {
    Eigen::MatrixXf xp(2, 7), tp = Eigen::MatrixXf::Zero(10, 7);
    for (ebm::Index first = 0; first < 7; first += piece)
      ebm::gather_part(data, indices, first, std::min<ebm::Index>(piece, 7 - first), xp, tp);
    EXPECT_EQ(xp, x) << piece;
    EXPECT_EQ(tp, target) << piece;
  }
  EXPECT_EQ(x(0, 1), 31.0f);
  EXPECT_EQ(target(1, 1), 1.0f);  // label 31 % 10
}

TEST(Shuffle, IsAPermutationFixedBySeed) {
  const auto a = ebm::shuffled_indices(1000, 42);
  const auto b = ebm::shuffled_indices(1000, 42);
  const auto c = ebm::shuffled_indices(1000, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (ebm::Index i = 0; i < 1000; ++i) EXPECT_EQ(sorted[std::size_t(i)], i);
  // Not the identity, and every position moves about uniformly: the mean of the first 100 is near 500.
  double mean = 0;
  for (int i = 0; i < 100; ++i) mean += double(a[std::size_t(i)]) / 100;
  EXPECT_GT(mean, 400);
  EXPECT_LT(mean, 600);
}

TEST(Split, ValidationIsDisjointAndDeterministic) {
  const auto data = numbered(50);
  const auto s = ebm::split_validation(data, 10, 7);
  ASSERT_EQ(s.validation.size(), 10);
  ASSERT_EQ(s.train.size(), 40);
  std::set<int> seen;
  for (ebm::Index j = 0; j < 10; ++j) seen.insert(int(s.validation.images(0, j)));
  for (ebm::Index j = 0; j < 40; ++j) {
    EXPECT_TRUE(seen.insert(int(s.train.images(0, j))).second) << "example in both sets";
    EXPECT_EQ(s.train.labels[std::size_t(j)], int(s.train.images(0, j)) % 10);  // labels travel with images
    EXPECT_EQ(s.train.images(1, j), -s.train.images(0, j));
  }
  EXPECT_EQ(seen.size(), 50u);
  for (ebm::Index j = 1; j < 40; ++j) EXPECT_LT(s.train.images(0, j - 1), s.train.images(0, j));  // order kept
  EXPECT_EQ(ebm::split_validation(data, 10, 7).validation.images, s.validation.images);
  EXPECT_NE(ebm::split_validation(data, 10, 8).validation.images, s.validation.images);
  EXPECT_EQ(ebm::split_validation(data, 0, 7).train.size(), 50);
  EXPECT_THROW(ebm::split_validation(data, 50, 7), ebm::InvalidOptions);
}

// The in-place forms the tool loads with (no second copy of the training set) give exactly the
// sets of the copying forms.
TEST(Split, InPlaceFormsMatchTheCopyingOnes) {
  const auto data = numbered(50);
  for (ebm::Index held : {0, 1, 10, 49}) {
    const auto copied = ebm::split_validation(data, held, 7);
    auto given = data;
    const auto moved = ebm::split_validation(std::move(given), held, 7);
    EXPECT_EQ(moved.train.images, copied.train.images) << held;
    EXPECT_EQ(moved.train.labels, copied.train.labels) << held;
    EXPECT_EQ(moved.validation.images, copied.validation.images) << held;
    EXPECT_EQ(moved.validation.labels, copied.validation.labels) << held;
  }
  for (ebm::Index n : {0, 1, 20, 50, 80}) {
    auto kept = data;
    ebm::keep_head(kept, n);
    const auto expected = ebm::head(data, n);
    EXPECT_EQ(kept.images, expected.images) << n;
    EXPECT_EQ(kept.labels, expected.labels) << n;
  }
}

TEST(Minibatches, CoverEveryExampleOncePerEpochAndChangeWithTheEpoch) {
  const ebm::Minibatches e0(23, 5, 3, 0), again(23, 5, 3, 0), e1(23, 5, 3, 1);
  ASSERT_EQ(e0.size(), 5);
  EXPECT_EQ(e0[4].size(), 3u);
  std::set<ebm::Index> seen;
  for (ebm::Index b = 0; b < e0.size(); ++b)
    for (ebm::Index i : e0[b]) EXPECT_TRUE(seen.insert(i).second);
  EXPECT_EQ(seen.size(), 23u);
  EXPECT_EQ(e0.order(), again.order());
  EXPECT_NE(e0.order(), e1.order());
  const ebm::Minibatches plain(7, 3, 3, 0, /*shuffle=*/false);
  EXPECT_EQ(plain[2][0], 6);
  EXPECT_THROW(ebm::Minibatches(7, 0, 3, 0), ebm::InvalidOptions);
}

TEST(Gather, BuildsInputsAndOneHotTargets) {
  const auto data = numbered(12);
  const std::vector<ebm::Index> idx = {11, 3};
  ebm::Matrix<float> x, t;
  ebm::gather(data, std::span<const ebm::Index>(idx), x, t);
  EXPECT_EQ(x(0, 0), 11.0f);
  EXPECT_EQ(x(0, 1), 3.0f);
  EXPECT_EQ(t(1, 0), 1.0f);
  EXPECT_EQ(t(3, 1), 1.0f);
  EXPECT_EQ(t.sum(), 2.0f);
}

}  // namespace
