#pragma once
// ThreadSanitizer stand-in for TBB's parallel_for (see tests/tsan/README.md): the same interface,
// for the one form ebm uses, on std::thread so that TSan sees every synchronization.
#include <oneapi/tbb/blocked_range.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "task_arena.h"

namespace tbb {

template <class Value, class Body>
void parallel_for(const blocked_range<Value>& range, const Body& body) {
  // Pieces of the range's grain size, taken by the workers from a shared counter.
  std::vector<blocked_range<Value>> pieces;
  for (Value at = range.begin(); at < range.end();) {
    const Value next = std::min<Value>(range.end(), at + Value(range.grainsize()));
    pieces.emplace_back(at, next, range.grainsize());
    at = next;
  }
  std::atomic<std::size_t> next_piece{0};
  std::atomic<bool> cancelled{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t p; !cancelled.load() && (p = next_piece.fetch_add(1)) < pieces.size();) {
      try {
        body(pieces[p]);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        cancelled.store(true);
      }
    }
  };
  const int threads = std::max(1, ebm_tsan::arena_threads > 0 ? ebm_tsan::arena_threads : info::default_concurrency());
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back([&, t] {
      ebm_tsan::thread_index = t;
      work();
    });
  const int outer = ebm_tsan::thread_index;
  ebm_tsan::thread_index = 0;
  work();  // the calling thread works too, as in TBB, as thread 0
  ebm_tsan::thread_index = outer;
  for (std::thread& w : workers) w.join();
  if (first_error) std::rethrow_exception(first_error);
}

/// TBB's static partitioner spreads the pieces over the threads one to one; here the workers take
/// them from the counter as they come, which the loops that ask for it allow (solvers/parallel.hpp).
struct static_partitioner {};
template <class Value, class Body>
void parallel_for(const blocked_range<Value>& range, const Body& body, const static_partitioner&) {
  parallel_for(range, body);
}

}  // namespace tbb

namespace oneapi {
namespace tbb = ::tbb;
}
