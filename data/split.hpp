#pragma once
/// \file
/// Validation splits, seeded shuffling and minibatches. Everything is a function of a seed
/// (and an epoch), drawn with ebm::Rng, so a run repeats exactly on any machine and any
/// standard library: std::shuffle and std::uniform_int_distribution are implementation-defined.

#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "data/fashion_mnist.hpp"

namespace ebm {

/// Uniform integer in [0, n), unbiased (rejection of the top partial range), n ≥ 1.
inline std::uint64_t uniform_below(Rng& rng, std::uint64_t n) {
  const std::uint64_t limit = std::uint64_t(-1) - std::uint64_t(-1) % n;  // largest multiple of n, minus 0
  std::uint64_t r = rng.next();
  while (r >= limit) r = rng.next();
  return r % n;
}

/// A permutation of 0…n−1, Fisher–Yates driven by Rng(seed, stream).
inline std::vector<Index> shuffled_indices(Index n, std::uint64_t seed, std::uint64_t stream = 0) {
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  Rng rng(seed, stream);
  for (Index i = n - 1; i > 0; --i) std::swap(order[std::size_t(i)], order[uniform_below(rng, std::uint64_t(i + 1))]);
  return order;
}

/// The examples of `data` at `indices`, in that order.
template <class T>
LabelledImages<T> subset(const LabelledImages<T>& data, std::span<const Index> indices) {
  LabelledImages<T> out;
  out.height = data.height;
  out.width = data.width;
  out.images.resize(data.images.rows(), Index(indices.size()));
  out.labels.resize(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    require<DimensionMismatch>(indices[j] >= 0 && indices[j] < data.size(), "subset: index ", indices[j],
                               " outside a set of ", data.size(), " examples");
    out.images.col(Index(j)) = data.images.col(indices[j]);
    out.labels[j] = data.labels[std::size_t(indices[j])];
  }
  return out;
}

/// The first `n` examples (all of them if n ≤ 0 or n ≥ size).
template <class T>
LabelledImages<T> head(const LabelledImages<T>& data, Index n) {
  if (n <= 0 || n >= data.size()) return data;
  LabelledImages<T> out;
  out.height = data.height;
  out.width = data.width;
  out.images = data.images.leftCols(n);
  out.labels.assign(data.labels.begin(), data.labels.begin() + n);
  return out;
}

/// Keeps the first `n` examples of `data` (all of them if n ≤ 0 or n ≥ size), in place: no copy of
/// the set is made, so loading never holds it twice.
template <class T>
void keep_head(LabelledImages<T>& data, Index n) {
  if (n <= 0 || n >= data.size()) return;
  data.images.conservativeResize(Eigen::NoChange, n);  // column-major: the first n columns stay put
  data.labels.resize(std::size_t(n));
}

/// A training set with a validation set held out of it.
template <class T>
struct TrainValidation {
  LabelledImages<T> train;
  LabelledImages<T> validation;
};

/// Holds out `validation_size` examples, chosen by a permutation drawn from `seed` (stream 1,
/// so that it does not correlate with the epoch shuffles, which use streams 2, 3, …). The
/// remaining examples keep their original order. 0 gives an empty validation set.
template <class T>
TrainValidation<T> split_validation(const LabelledImages<T>& data, Index validation_size, std::uint64_t seed) {
  require<InvalidOptions>(validation_size >= 0 && validation_size < data.size(), "data.validation_size = ",
                          validation_size, " must be ≥ 0 and less than the ", data.size(), " training examples");
  const std::vector<Index> order = shuffled_indices(data.size(), seed, 1);
  std::vector<char> held(std::size_t(data.size()), 0);
  std::vector<Index> validation(order.begin(), order.begin() + validation_size);
  for (Index i : validation) held[std::size_t(i)] = 1;
  std::vector<Index> train;
  for (Index i = 0; i < data.size(); ++i)
    if (!held[std::size_t(i)]) train.push_back(i);
  return {subset<T>(data, train), subset<T>(data, validation)};
}

/// split_validation() of a set the caller gives up: the same split, but the training part is
/// `data` itself with the held-out columns removed in place (the others move forward, keeping
/// their order), so that peak memory is the set plus its validation part, not twice the set.
template <class T>
TrainValidation<T> split_validation(LabelledImages<T>&& data, Index validation_size, std::uint64_t seed) {
  require<InvalidOptions>(validation_size >= 0 && validation_size < data.size(), "data.validation_size = ",
                          validation_size, " must be ≥ 0 and less than the ", data.size(), " training examples");
  const std::vector<Index> order = shuffled_indices(data.size(), seed, 1);
  const std::vector<Index> validation(order.begin(), order.begin() + validation_size);
  std::vector<char> held(std::size_t(data.size()), 0);
  for (Index i : validation) held[std::size_t(i)] = 1;
  TrainValidation<T> out;
  out.validation = subset<T>(data, validation);
  Index kept = 0;
  for (Index i = 0; i < data.size(); ++i) {
    if (held[std::size_t(i)]) continue;
    if (kept != i) {
      data.images.col(kept) = data.images.col(i);
      data.labels[std::size_t(kept)] = data.labels[std::size_t(i)];
    }
    ++kept;
  }
  keep_head(data, kept);
  out.train = std::move(data);
  return out;
}

/// The minibatches of one epoch: a permutation of the examples drawn from (seed, epoch), cut
/// into batches of `batch_size` (the last one may be smaller). Epoch e always gives the same
/// batches, which is what lets a resumed run continue exactly.
class Minibatches {
 public:
  Minibatches(Index examples, Index batch_size, std::uint64_t seed, std::uint64_t epoch, bool shuffle = true)
      : batch_size_(batch_size) {
    require<InvalidOptions>(batch_size >= 1, "data.batch_size must be ≥ 1, got ", batch_size);
    if (shuffle) {
      order_ = shuffled_indices(examples, seed, 2 + epoch);
    } else {
      order_.resize(std::size_t(examples));
      std::iota(order_.begin(), order_.end(), Index(0));
    }
  }

  /// Number of batches.
  Index size() const { return (Index(order_.size()) + batch_size_ - 1) / batch_size_; }
  /// The example indices of batch b.
  std::span<const Index> operator[](Index b) const {
    const Index first = b * batch_size_;
    const Index count = std::min<Index>(batch_size_, Index(order_.size()) - first);
    return std::span<const Index>(order_.data() + first, std::size_t(count));
  }
  const std::vector<Index>& order() const { return order_; }

 private:
  Index batch_size_;
  std::vector<Index> order_;
};

/// Copies the examples at `indices` into x (pixels × batch) and their one-hot targets.
template <class T>
void gather(const LabelledImages<T>& data, std::span<const Index> indices, Matrix<T>& x, Matrix<T>& target,
            Index classes = 10) {
  x.resize(data.images.rows(), Index(indices.size()));
  target = Matrix<T>::Zero(classes, Index(indices.size()));
  for (std::size_t j = 0; j < indices.size(); ++j) {
    x.col(Index(j)) = data.images.col(indices[j]);
    target(data.labels[std::size_t(indices[j])], Index(j)) = T(1);
  }
}

/// Columns [first, first + count) of what gather() makes, into x and target already sized for
/// all of `indices` (target zero in those columns): a trainer gathers the next minibatch this way
/// in parallel, during the current one's update, instead of serially before it (its columns lie
/// scattered over the whole dataset, 188 MB for Fashion-MNIST in float, so each one waits on memory).
template <class T>
void gather_part(const LabelledImages<T>& data, std::span<const Index> indices, Index first, Index count,
                 Matrix<T>& x, Matrix<T>& target) {
  for (Index j = first; j < first + count; ++j) {
    x.col(j) = data.images.col(indices[std::size_t(j)]);
    target(data.labels[std::size_t(indices[std::size_t(j)])], j) = T(1);
  }
}

}  // namespace ebm
