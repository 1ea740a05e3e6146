// A relaxation allocates what it needs when it starts and nothing per step: the number of heap
// allocations of a relaxation must not grow with its number of steps. Counted by replacing the
// global operator new for this test binary (a counter, then malloc; operator delete frees).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"

// The sanitizers bring their own operator new: the count is taken in the plain builds only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EBM_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define EBM_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef EBM_COUNT_ALLOCATIONS
#define EBM_COUNT_ALLOCATIONS 1
#endif

#if EBM_COUNT_ALLOCATIONS
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC 12 pairs the free() below with the operator new it inlines elsewhere and warns
// (-Wmismatched-new-delete); both sides are ours and match: malloc above, free here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace ebm {
namespace {

template <class T>
long allocations_of_relaxation(Method method, Activation::Kind kind, long steps) {
  LayeredHopfield<T> net({30, 20, 10}, kind);
  net.init_glorot(1, T(1.5));
  const Matrix<T> x = Matrix<T>::Constant(30, 8, T(0.5));
  const Matrix<T> target = Matrix<T>::Zero(10, 8);
  RelaxOptions options;
  options.method = method;
  options.dt = method == Method::fixed_point ? 1.0 : 0.1;
  options.grad_tol = 0;
  options.max_steps = steps;
  Matrix<T> s = Matrix<T>::Zero(net.state_size(), 8);
  FreeSystem free(net, x);
  NudgedSystem nudged(free, target, T(0.5));
  const long before = g_allocations.load();
  relax(free, s, options);
  relax(nudged, s, options);
  return g_allocations.load() - before;
}

TEST(RelaxAllocations, DoNotGrowWithTheNumberOfSteps) {
  for (Method method : {Method::euler, Method::fixed_point, Method::rk4, Method::dopri5}) {
    const auto kind = method == Method::rk4 || method == Method::dopri5 ? Activation::Kind::logistic : Activation::Kind::hard_sigmoid;
    const long short_run = allocations_of_relaxation<float>(method, kind, 5);
    const long long_run = allocations_of_relaxation<float>(method, kind, 50);
    EXPECT_GT(short_run, 0) << "the counter counts";
    EXPECT_EQ(long_run, short_run) << to_string(method) << ": allocations grow with the steps";
    EXPECT_EQ(allocations_of_relaxation<double>(method, kind, 50), allocations_of_relaxation<double>(method, kind, 5));
  }
}

}  // namespace
}  // namespace ebm

#endif  // EBM_COUNT_ALLOCATIONS
