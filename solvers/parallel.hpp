#pragma once
/// \file
/// Relaxing a minibatch in parallel with Intel TBB. The batch is cut into fixed chunks of
/// columns (the cut depends on the chunk size only, never on the number of threads); each
/// chunk relaxes as one matrix, and the chunk summaries merge in chunk order. With per-example
/// noise streams, the result is bit-identical for any thread count.

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <thread>
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
/// (a trainer runs three per minibatch: making an arena each time costs thread wake-ups).
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

  /// The number of threads.
  int threads() const { return arena_.max_concurrency(); }

  /// Calls f(i) for i in [0, n) in parallel, where thread t (0 … threads() − 1) runs first the i
  /// with owner(i) = t, then those with owner(i) < 0 (anyone's), then whatever is left: each i
  /// runs once, so the result never depends on who ran what. Why: a task that touches the data
  /// its thread touched in the last loop finds it in that core's cache (the trainer's update
  /// tiles and its drive's stages share their columns of W₁), where TBB's own scheduling moves
  /// tasks among threads from one loop to the next.
  template <class Owner, class F>
  void parallel_for_owned(Index n, Owner&& owner, F&& f) {
    if (n <= 0) return;
    auto& claimed = flags(n);
    run_on_each_thread([&](int t) {
      auto take = [&](Index i) {
        if (!claimed[std::size_t(i)].exchange(1, std::memory_order_relaxed)) f(i);
      };
      for (Index i = 0; i < n; ++i)
        if (owner(i) == t) take(i);
      for (Index i = 0; i < n; ++i)
        if (owner(i) < 0) take(i);
      for (Index i = n - 1; i >= 0; --i) take(i);  // the others', from their end
    });
  }

  /// Calls f(stage, group) for every stage in [0, stages) and group in [0, groups), each after
  /// f(stage − 1, group) has returned, in parallel: thread t runs stage t (stages ≤ threads())
  /// group after group, so that group g of stage t overlaps group g + 1 of stage t − 1 (a
  /// pipeline; its bubble is (stages − 1) / (groups + stages − 1) of the time). A thread waiting
  /// on a step no thread has started takes it itself, so a loop never waits on a thread that is
  /// not there. An exception from f stops the loop (the steps not begun are skipped, and no thread
  /// waits for ever on the failed one) and is rethrown here.
  template <class F>
  void pipeline(Index stages, Index groups, F&& f) {
    if (stages <= 0 || groups <= 0) return;
    require<InvalidOptions>(stages <= threads(), "pipeline: ", stages, " stages on ", threads(), " threads");
    const Index units = stages * groups;
    auto& claimed = flags(2 * units);  // [0, units): claimed; [units, 2·units): done
    auto unit = [&](Index s, Index g) { return std::size_t(s * groups + g); };
    auto done = [&](Index s, Index g) -> std::atomic<char>& { return claimed[std::size_t(units) + unit(s, g)]; };
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // the first exception, read after the region has joined
    // Runs (s, g), claimed by this thread, once its predecessor is done (running that too if it
    // is unclaimed).
    auto finish = [&](auto& self, Index s, Index g) -> void {
      if (s > 0) {
        while (!done(s - 1, g).load(std::memory_order_acquire)) {
          if (!claimed[unit(s - 1, g)].exchange(1, std::memory_order_relaxed)) {
            self(self, s - 1, g);
            break;
          }
          pause();
        }
      }
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          f(s, g);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
      done(s, g).store(1, std::memory_order_release);
    };
    run_on_each_thread([&](int t) {
      if (t < stages)
        for (Index g = 0; g < groups; ++g)
          if (!claimed[unit(t, g)].exchange(1, std::memory_order_relaxed)) finish(finish, Index(t), g);
      for (Index s = 0; s < stages; ++s)
        for (Index g = 0; g < groups; ++g)
          if (!claimed[unit(s, g)].exchange(1, std::memory_order_relaxed)) finish(finish, s, g);
    });
    if (error) std::rethrow_exception(error);
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
  /// Runs body(t) once per thread slot t, each on the thread in that slot of the arena where TBB
  /// can (a static partition of one task per slot); a thread that runs another slot's task runs
  /// it with its own slot's number, which the loops above allow for.
  template <class Body>
  void run_on_each_thread(Body&& body) {
    const int n = threads();
    arena_.execute([&] {
      oneapi::tbb::parallel_for(
          oneapi::tbb::blocked_range<int>(0, n, 1),
          [&](const oneapi::tbb::blocked_range<int>& range) {
            for (int i = range.begin(); i != range.end(); ++i) body(oneapi::tbb::this_task_arena::current_thread_index());
          },
          oneapi::tbb::static_partitioner());
    });
  }
  /// n flags, all 0, reusing the storage of the last call: one owned loop or pipeline at a time
  /// per arena (the trainer's are one after the other).
  std::unique_ptr<std::atomic<char>[]>& flags(Index n) {
    if (n > flag_capacity_) {
      flags_.reset(new std::atomic<char>[std::size_t(n)]);
      flag_capacity_ = n;
    }
    for (Index i = 0; i < n; ++i) flags_[std::size_t(i)].store(0, std::memory_order_relaxed);
    return flags_;
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  oneapi::tbb::task_arena arena_;
  std::unique_ptr<std::atomic<char>[]> flags_;
  Index flag_capacity_ = 0;
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
