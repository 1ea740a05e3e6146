// retain_freed_heap (core/retained_heap.hpp): scratch freed and taken again, as a minibatch's
// relaxations do, must not fault its pages back in every time. Each case runs in a fresh process
// (a death test re-executes the binary), since glibc's thresholds are process-wide and move by
// themselves once a large block has been freed; the control, without the call, shows that the
// pattern does fault under glibc's defaults, so the check can fail.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/retained_heap.hpp"

// The sanitizers replace malloc (mallopt does not reach their allocators): checked in the plain
// builds only, like the allocation count of tests/solvers/relax_allocations_test.cpp.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EBM_PLAIN_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define EBM_PLAIN_MALLOC 0
#endif
#endif
#ifndef EBM_PLAIN_MALLOC
#define EBM_PLAIN_MALLOC 1
#endif

namespace ebm {
namespace {

#if defined(__GLIBC__) && EBM_PLAIN_MALLOC
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

/// 100 rounds of eight 64 KiB blocks (under the default 128 KiB mmap threshold, so from the
/// heap) written and freed: 512 KiB free at the heap's top after each round. Exits with 0 when
/// the rounds faulted fewer than 2 000 pages (12 800 if every round faulted its pages afresh).
[[noreturn]] void churn_and_exit() {
  const long before = minor_faults();
  for (int round = 0; round < 100; ++round) {
    std::vector<char*> blocks;
    for (int i = 0; i < 8; ++i) {
      char* p = static_cast<char*>(std::malloc(64 << 10));
      if (p == nullptr) std::_Exit(2);
      std::memset(p, round, 64 << 10);
      blocks.push_back(p);
    }
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) std::free(*it);
  }
  std::_Exit(minor_faults() - before < 2000 ? 0 : 1);
}

TEST(RetainedHeap, FreedScratchIsNotFaultedInAgain) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        retain_freed_heap();
        churn_and_exit();
      },
      testing::ExitedWithCode(0), "");
}

TEST(RetainedHeap, WithoutItTheSameScratchFaultsAgain) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(churn_and_exit(), testing::ExitedWithCode(1), "");
}
#endif

}  // namespace
}  // namespace ebm
