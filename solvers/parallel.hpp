#pragma once
/// \file
/// Relaxing a minibatch in parallel with Intel TBB. The batch is cut into fixed chunks of
/// columns (the cut depends on the chunk size only, never on the number of threads); each
/// chunk relaxes as one matrix, and the chunk summaries merge in chunk order. With per-example
/// noise streams, the result is bit-identical for any thread count.

#include <algorithm>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/types.hpp"

namespace ebm {

/// How a batch is spread over threads.
struct ParallelOptions {
  int threads = 0;   ///< 0: all the machine's cores
  Index chunk = 64;  ///< examples per task; each task does matrix–matrix work on its chunk
  /// Training with an estimator and a model that allow it (HebbianPairEstimator, HasTiledHebbian):
  /// relax the chunks in parallel, then compute and apply the update of the whole minibatch in
  /// parameter tiles, in parallel. false: sum one full-size estimate per chunk (the reference path).
  bool tiled_update = true;

  static constexpr auto fields() {
    using P = ParallelOptions;
    return std::tuple{
        field("threads", &P::threads, "threads (0 = all cores); results do not depend on it",
              checks::InRange{0, 4096, true}),
        field("chunk", &P::chunk, "examples per task; results depend on it, not on threads", positive),
        field("tiled_update", &P::tiled_update, "the fast path: relax chunks, then update the whole minibatch in tiles"),
    };
  }

  void validate() const {
    std::string why;
    if (!check_fields(*this, "parallel.", &why)) throw InvalidOptions(why);
  }
};

/// A TBB arena with a fixed number of threads, made once and reused by many parallel loops
/// (a trainer runs two per minibatch: making an arena each time costs thread wake-ups).
class ThreadArena {
 public:
  /// `threads` = 0: all the machine's cores.
  explicit ThreadArena(int threads = 0)
      : arena_(threads > 0 ? threads : oneapi::tbb::info::default_concurrency()) {}

  /// Calls f(i) for i in [0, n) in parallel. Which thread runs which i never changes a result
  /// as long as each f(i) writes only its own output.
  template <class F>
  void parallel_for(Index n, F&& f) {
    if (n <= 0) return;
    arena_.execute([&] {
      oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<Index>(0, n, 1),
                                [&](const oneapi::tbb::blocked_range<Index>& range) {
                                  for (Index i = range.begin(); i != range.end(); ++i) f(i);
                                });
    });
  }

  /// Calls f(first_column, column_count) for each chunk of `chunk` columns of a batch of `batch`
  /// columns, in parallel, and returns the results in chunk order.
  template <class F>
  auto for_each_chunk(Index batch, Index chunk, F&& f) {
    using Result = decltype(f(Index(0), Index(0)));
    const Index chunks = (batch + chunk - 1) / chunk;
    std::vector<Result> results(static_cast<std::size_t>(chunks));
    parallel_for(chunks, [&](Index c) {
      const Index first = c * chunk;
      results[std::size_t(c)] = f(first, std::min(chunk, batch - first));
    });
    return results;
  }

 private:
  oneapi::tbb::task_arena arena_;
};

/// Calls f(first_column, column_count) for each chunk of a batch of `batch` columns, in
/// parallel, and returns the results in chunk order.
template <class F>
auto for_each_chunk(Index batch, const ParallelOptions& options, F&& f) {
  options.validate();
  ThreadArena arena(options.threads);
  return arena.for_each_chunk(batch, options.chunk, std::forward<F>(f));
}

/// Runs `relax_chunk(s_chunk, first_column)` on each chunk of the columns of `s` in parallel
/// (each chunk copied out, relaxed, copied back) and merges the summaries in chunk order.
/// `relax_chunk` builds its own system over the matching columns of the inputs, e.g.
/// \code
/// parallel_relax(s, par, [&](Matrix<T>& sc, Index first) {
///   FreeSystem sys(net, x.middleCols(first, sc.cols()));
///   return relax(sys, sc, options, first);
/// });
/// \endcode
template <class T, class F>
auto parallel_relax(Matrix<T>& s, const ParallelOptions& options, F&& relax_chunk) {
  require<DimensionMismatch>(s.cols() > 0, "parallel_relax: the batch is empty");
  auto results = for_each_chunk(s.cols(), options, [&](Index first, Index count) {
    Matrix<T> chunk = s.middleCols(first, count);
    auto summary = relax_chunk(chunk, first);
    s.middleCols(first, count) = chunk;
    return summary;
  });
  auto merged = results.front();
  for (std::size_t c = 1; c < results.size(); ++c) merged.merge(results[c]);
  return merged;
}

}  // namespace ebm
