// Relaxation benchmarks: one step and one full free + nudged relaxation of a batch, for the
// layered Hopfield network at several sizes and batch sizes, float and double, each solver.
//
// Every figure is also given as a ratio measured in the same run, because the machines we run
// on are shared and noisy:
//   vs_gemm      achieved FLOP/s over the FLOP/s of a plain Eigen product W₁x of matching size;
//                FLOPs are those the algorithm needs (2mnk per product: W₁x once per relaxation,
//                W_k and W_kᵀ products per gradient evaluation), not the elementwise work.
//   vs_1_thread  throughput with N threads over throughput with 1 thread (scaling benchmark).
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <tuple>
#include <vector>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax.hpp"

namespace {

using ebm::Index;
using Clock = std::chrono::steady_clock;

const std::vector<std::vector<Index>> kSizes = {{784, 512, 10}, {784, 512, 512, 10}, {784, 1024, 10}};
const std::vector<Index> kBatches = {1, 16, 64, 256};
const std::vector<ebm::Method> kMethods = {ebm::Method::euler, ebm::Method::rk4, ebm::Method::dopri5,
                                           ebm::Method::fixed_point};

std::string name_of(const std::vector<Index>& sizes) {
  std::string s;  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on "-" + std::to_string(…)
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (k) s.push_back('-');
    s.append(std::to_string(sizes[k]));
  }
  return s;
}

/// FLOPs of the input drive W₁x (once per relaxation).
double drive_flops(const std::vector<Index>& n, Index batch) { return 2.0 * double(n[0] * n[1] * batch); }
/// FLOPs of one gradient evaluation given the drive: W_k ρ(s_{k−1}) and W_kᵀρ(s_k) for k ≥ 2.
double gradient_flops(const std::vector<Index>& n, Index batch) {
  double f = 0;
  for (std::size_t k = 2; k < n.size(); ++k) f += 4.0 * double(n[k] * n[k - 1] * batch);
  return f;
}

/// FLOP/s of Eigen's C = A·B for A m×k, B k×n, best of several runs; memoised per shape.
template <class T>
double gemm_rate(Index m, Index k, Index n) {
  static std::map<std::tuple<Index, Index, Index>, double> cache;
  const auto key = std::make_tuple(m, k, n);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const ebm::Matrix<T> a = ebm::Matrix<T>::Random(m, k), b = ebm::Matrix<T>::Random(k, n);
  ebm::Matrix<T> c(m, n);
  const int reps = int(std::max<double>(1, 2e8 / (2.0 * double(m * k * n))));
  double best = 1e300;
  for (int trial = 0; trial < 7; ++trial) {
    const auto start = Clock::now();
    for (int r = 0; r < reps; ++r) {
      c.noalias() = a * b;
      benchmark::DoNotOptimize(c.data());
    }
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / reps);
  }
  return cache[key] = 2.0 * double(m * k * n) / best;
}

template <class T>
ebm::LayeredHopfield<T> make_network(const std::vector<Index>& sizes, ebm::Method method) {
  // The hard sigmoid of the EP literature where the solver allows it; logistic for rk4/dopri5.
  const bool smooth = method == ebm::Method::rk4 || method == ebm::Method::dopri5;
  ebm::LayeredHopfield<T> net(sizes, smooth ? ebm::Activation::Kind::logistic : ebm::Activation::Kind::hard_sigmoid);
  net.init_glorot(1, T(1));
  return net;
}

template <class T>
ebm::Matrix<T> make_input(Index rows, Index batch) {
  return ((ebm::Matrix<T>::Random(rows, batch).array() + 1) / 2).matrix();
}

ebm::RelaxOptions options_for(ebm::Method method, long steps) {
  ebm::RelaxOptions o;
  o.method = method;
  o.dt = method == ebm::Method::fixed_point ? 1.0 : 0.5;
  o.grad_tol = 0;  // a fixed number of steps, as in EP training
  o.max_steps = steps;
  o.abs_tol = 1e-6;
  o.rel_tol = 1e-4;
  return o;
}

void set_counters(benchmark::State& state, double flops, double seconds, double gemm) {
  state.counters["GFLOP/s"] = flops / seconds * 1e-9;
  state.counters["vs_gemm"] = flops / seconds / gemm;
}

/// Ten steps of one solver from a fixed state; reported per step.
template <class T>
void relax_step(benchmark::State& state, std::vector<Index> sizes, Index batch, ebm::Method method) {
  const auto net = make_network<T>(sizes, method);
  const ebm::Matrix<T> x = make_input<T>(sizes[0], batch);
  ebm::FreeSystem sys(net, x);
  const ebm::Matrix<T> start = ebm::Matrix<T>::Constant(net.state_size(), batch, T(0.5));
  ebm::Matrix<T> s = start;
  const ebm::RelaxOptions options = options_for(method, 10);
  long evaluations = 0, steps = 0;
  double seconds = 0;
  for (auto _ : state) {
    s = start;
    const auto t0 = Clock::now();
    const ebm::RelaxSummary summary = ebm::relax(sys, s, options);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    evaluations += summary.gradient_evaluations;
    steps += summary.steps_accepted + summary.steps_rejected;
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(steps * batch);
  state.counters["s/step"] = benchmark::Counter(seconds / double(steps));
  set_counters(state, double(evaluations) * gradient_flops(sizes, batch), seconds,
               gemm_rate<T>(sizes[1], sizes[0], batch));
}

/// One EP relaxation of a batch: the free phase (30 steps) and the nudged phase (10 steps, β = 0.5).
template <class T>
void free_nudged(benchmark::State& state, std::vector<Index> sizes, Index batch, ebm::Method method) {
  const auto net = make_network<T>(sizes, method);
  const ebm::Matrix<T> x = make_input<T>(sizes[0], batch);
  const ebm::Matrix<T> target = ebm::Matrix<T>::Zero(sizes.back(), batch);
  const ebm::RelaxOptions free_options = options_for(method, 30), nudged_options = options_for(method, 10);
  ebm::Matrix<T> s;
  long evaluations = 0, relaxations = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    ebm::FreeSystem free_phase(net, x);
    s.setZero(net.state_size(), batch);
    evaluations += ebm::relax(free_phase, s, free_options).gradient_evaluations;
    ebm::NudgedSystem nudged(free_phase, target, T(0.5));
    evaluations += ebm::relax(nudged, s, nudged_options).gradient_evaluations;
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++relaxations;
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(relaxations * batch);
  const double flops = double(relaxations) * drive_flops(sizes, batch) + double(evaluations) * gradient_flops(sizes, batch);
  set_counters(state, flops, seconds, gemm_rate<T>(sizes[1], sizes[0], batch));
}

/// A minibatch of 1024 relaxed (free + nudged) in TBB chunks of 64 on N threads, against 1 thread.
template <class T>
void thread_scaling(benchmark::State& state, int threads) {
  const std::vector<Index> sizes = {784, 512, 10};
  const Index batch = 1024;
  const auto net = make_network<T>(sizes, ebm::Method::fixed_point);
  const ebm::Matrix<T> x = make_input<T>(sizes[0], batch);
  const ebm::Matrix<T> target = ebm::Matrix<T>::Zero(10, batch);
  const ebm::RelaxOptions free_options = options_for(ebm::Method::fixed_point, 30),
                          nudged_options = options_for(ebm::Method::fixed_point, 10);
  auto run = [&](int n) {
    ebm::Matrix<T> s = ebm::Matrix<T>::Zero(net.state_size(), batch);
    const auto t0 = Clock::now();
    ebm::parallel_relax(s, ebm::ParallelOptions{n, 64}, [&](ebm::Matrix<T>& chunk, Index first) {
      ebm::FreeSystem free_phase(net, x.middleCols(first, chunk.cols()));
      ebm::RelaxSummary summary = ebm::relax(free_phase, chunk, free_options, first);
      ebm::NudgedSystem nudged(free_phase, target.middleCols(first, chunk.cols()), T(0.5));
      summary.merge(ebm::relax(nudged, chunk, nudged_options, first));
      return summary;
    });
    benchmark::DoNotOptimize(s.data());
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  double one = 1e300;
  for (int i = 0; i < 3; ++i) one = std::min(one, run(1));
  double seconds = 0;
  long runs = 0;
  for (auto _ : state) {
    seconds += run(threads);
    ++runs;
  }
  state.SetItemsProcessed(runs * batch);
  state.counters["vs_1_thread"] = one / (seconds / double(runs));
}

}  // namespace

int main(int argc, char** argv) {
  for (const auto& sizes : kSizes)
    for (Index batch : kBatches)
      for (ebm::Method method : kMethods) {
        const std::string tail = name_of(sizes) + "/batch:" + std::to_string(batch) + "/" +
                                 std::string(ebm::to_string(method));
        benchmark::RegisterBenchmark(("relax_step<float>/" + tail).c_str(), relax_step<float>, sizes, batch, method);
        benchmark::RegisterBenchmark(("relax_step<double>/" + tail).c_str(), relax_step<double>, sizes, batch, method);
        benchmark::RegisterBenchmark(("free_nudged<float>/" + tail).c_str(), free_nudged<float>, sizes, batch, method);
        benchmark::RegisterBenchmark(("free_nudged<double>/" + tail).c_str(), free_nudged<double>, sizes, batch,
                                     method);
      }
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(("thread_scaling<float>/threads:" + std::to_string(threads)).c_str(),
                                 thread_scaling<float>, threads)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
