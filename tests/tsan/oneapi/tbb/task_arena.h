#pragma once
// ThreadSanitizer stand-in for TBB's task_arena (see tests/tsan/README.md): an arena of n threads
// makes the parallel_for it runs use n threads.
#include <thread>
#include <utility>

namespace tbb {

namespace ebm_tsan {
inline thread_local int arena_threads = 0;
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

 private:
  int threads_;
};

}  // namespace tbb

namespace oneapi {
namespace tbb = ::tbb;
}
