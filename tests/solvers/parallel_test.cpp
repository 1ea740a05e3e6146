// ThreadArena's owned loop and pipeline (solvers/parallel.hpp): every task runs exactly once, a
// pipeline step only after the step before it in its group, on 1 to 4 threads, and with slow
// threads (so that another thread takes their work), many times over to give a race its chance;
// an exception stops a pipeline without a hang.
// ThreadSanitizer runs this file in the checked build (scripts/check.sh).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "solvers/parallel.hpp"

namespace ebm {
namespace {

TEST(ThreadArena, OwnedLoopRunsEveryTaskOnceAndOwnersFirst) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadArena arena(threads);
    for (int round = 0; round < 200; ++round) {
      const Index n = 1 + round % 23;
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
      std::vector<int> by(static_cast<std::size_t>(n), -1);
      auto owner = [&](Index i) { return i % 5 == 4 ? -1 : int(i % threads); };
      arena.parallel_for_owned(n, owner, [&](Index i) {
        runs[std::size_t(i)].fetch_add(1);
        by[std::size_t(i)] = oneapi::tbb::this_task_arena::current_thread_index();
        if (round % 50 == 0 && i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      });
      for (Index i = 0; i < n; ++i) ASSERT_EQ(runs[std::size_t(i)].load(), 1) << threads << " threads, task " << i;
      if (threads == 1) {
        for (Index i = 0; i < n; ++i) EXPECT_EQ(by[std::size_t(i)], 0);
      }
    }
  }
}

TEST(ThreadArena, PipelineRunsEachStepOnceAfterTheStepBeforeIt) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadArena arena(threads);
    for (int round = 0; round < 200; ++round) {
      const Index stages = 1 + round % threads, groups = 1 + round % 9;
      // Each step records the step count of its predecessor when it starts: it must be done.
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(stages * groups));
      std::vector<int> saw(static_cast<std::size_t>(stages * groups), -1);
      auto at = [&](Index s, Index g) { return std::size_t(s * groups + g); };
      arena.pipeline(stages, groups, [&](Index s, Index g) {
        saw[at(s, g)] = s > 0 ? runs[at(s - 1, g)].load() : 1;
        // Stage 0 slow now and then: the next stage waits, or takes it over if no thread started it.
        if (s == 0 && round % 40 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        runs[at(s, g)].fetch_add(1);
      });
      for (Index s = 0; s < stages; ++s)
        for (Index g = 0; g < groups; ++g) {
          ASSERT_EQ(runs[at(s, g)].load(), 1) << threads << " threads, stage " << s << ", group " << g;
          ASSERT_EQ(saw[at(s, g)], 1) << "stage " << s << " of group " << g << " started before the stage before it";
        }
    }
  }
}

TEST(ThreadArena, AnExceptionStopsThePipelineAndIsRethrown) {
  // Stage 1 of group 1 waits on the failed step: without the stop it would spin for ever.
  for (int threads : {1, 2, 3}) {
    ThreadArena arena(threads);
    const Index stages = std::min<Index>(2, threads);
    for (int round = 0; round < 50; ++round) {
      std::atomic<int> after{0};
      EXPECT_THROW(arena.pipeline(stages, 5,
                                  [&](Index s, Index g) {
                                    if (s == 0 && g == 1) throw std::runtime_error("step (0, 1)");
                                    if (s == 1 && g == 1) after.fetch_add(1);
                                  }),
                   std::runtime_error);
      EXPECT_EQ(after.load(), 0) << "the step after the failed one ran";
      // The arena is usable afterwards.
      std::atomic<int> count{0};
      arena.pipeline(stages, 4, [&](Index, Index) { count.fetch_add(1); });
      EXPECT_EQ(count.load(), stages * 4);
    }
  }
}

TEST(ThreadArena, PipelineRefusesMoreStagesThanThreads) {
  ThreadArena arena(2);
  EXPECT_THROW(arena.pipeline(3, 4, [](Index, Index) {}), InvalidOptions);
}

}  // namespace
}  // namespace ebm
