#pragma once
// ThreadSanitizer stand-in for TBB's task_arena (see tests/tsan/README.md): an arena of n threads
// makes the parallel_for it runs use n threads.
#include <thread>
#include <utility>

namespace tbb {

namespace ebm_tsan {
inline thread_local int arena_threads = 0;
inline thread_local int thread_index = 0;  // the worker's number in the parallel_for running it
}

namespace info {
inline int default_concurrency() { return int(std::thread::hardware_concurrency()); }
}  // namespace info

class task_arena {
 public:
  explicit task_arena(int threads) : threads_(threads) {}
  template <class F>
  decltype(auto) execute(F&& f) {
    const int outer = ebm_tsan::arena_threads;
    ebm_tsan::arena_threads = threads_;
    struct Restore {
      int value;
      ~Restore() { ebm_tsan::arena_threads = value; }
    } restore{outer};
    return std::forward<F>(f)();
  }
  int max_concurrency() const { return threads_; }

 private:
  int threads_;
};

namespace this_task_arena {
inline int current_thread_index() { return ebm_tsan::thread_index; }
}  // namespace this_task_arena

}  // namespace tbb

namespace oneapi {
namespace tbb = ::tbb;
}
