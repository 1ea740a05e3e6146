// One EP training epoch on Fashion-MNIST in the configuration of the popular PyTorch EP code:
// 784-512-10 hard-sigmoid network, fixed-point dynamics with 30 free and 10 nudged steps,
// batch 50, one-sided EP (β = 0.5), SGD, float. Reported as seconds per epoch, examples per
// second, and two ratios measured in the same run:
//   vs_1_thread  throughput with N threads over throughput with 1 thread;
//   vs_gemm      achieved FLOP/s over N × the FLOP/s of one thread's Eigen product W₁x (512×784 by
//                784×25, a chunk's input drive). FLOPs are those the algorithm needs per example:
//                W₁x (2·784·512), 40 steps of W₂ρ(s₁) and W₂ᵀρ(s₂) (40·4·512·10), and the
//                update's ΔW₁ = Δρ(s₁)xᵀ and ΔW₂ (2·784·512 + 2·2·512·10); not the elementwise work.
//   vs_large_gemm the same FLOPs over N × one thread's FLOP/s on a 1024 × 1024 product (the peak).
//   vs_large_gemm_nt the same FLOPs over what N large products reach together, one on each of N
//                threads, timed right before and right after the epoch: the peak of N busy cores
//                (which run slower than one busy core on most machines), measured when the epoch
//                runs (these machines are shared, and a peak timed once at the start can come from
//                a quiet moment the epoch never sees).
//   gemm_nt_scaling what N concurrent large products reach over N × one thread's, the two timed
//                back to back after the epochs: the machine's own ceiling for vs_1_thread.
// `ep_epoch_scaling` gives vs_1_thread robustly on a shared host: short epochs on 1 and on N
// threads in alternation, several rounds, the ratio of the minima and of the medians (one full
// epoch each, as above, swings with whatever else the host runs at the time).
// `ep_epoch_per_chunk` runs the reference path (parallel.tiled_update = false: one full-size
// estimate per chunk, summed), for comparison.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"
#include "training/trainer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

const ebm::LabelledImages<float>& fashion_train() {
  static const auto data = ebm::load_fashion_mnist<float>(ebm::kDebianFashionMnistDir, "train");
  return data;
}

ebm::RelaxOptions fixed_steps(long steps) {
  ebm::RelaxOptions o;
  o.method = ebm::Method::fixed_point;
  o.dt = 1.0;
  o.grad_tol = 0;  // exactly `steps` steps, as in the reference code
  o.max_steps = steps;
  return o;
}

/// Seconds for one epoch over the first `examples` training images; the final test accuracy
/// of the epoch goes to `accuracy` when given.
double epoch_seconds(int threads, ebm::Index examples, bool tiled = true) {
  const auto& all = fashion_train();
  ebm::LabelledImages<float> train;
  train.images = all.images.leftCols(examples);
  train.labels.assign(all.labels.begin(), all.labels.begin() + examples);
  ebm::LayeredHopfield<float> net({784, 512, 10});
  net.init_glorot(1);
  ebm::EPOptions ep;
  ep.free = fixed_steps(30);
  ep.nudged = fixed_steps(10);
  ep.beta = 0.5;
  ebm::EquilibriumProp<float> estimator(ep);
  ebm::OptimizerOptions sgd;
  sgd.learning_rates = {0.1, 0.05};
  ebm::Optimizer<float> optimizer(sgd, net.param_blocks(), net.params().size());
  ebm::TrainerOptions options;
  options.batch_size = 50;
  options.epochs = 1;
  options.eval_train_size = 1;  // measure training, not evaluation
  options.parallel = ebm::ParallelOptions{threads, 25, tiled};
  options.eval_relax = ep.free;
  ebm::Trainer trainer(net, estimator, optimizer, options);
  const auto start = Clock::now();
  trainer.train_epoch(train);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// FLOP/s of Eigen's W₁x for a chunk of 25 (512×784 by 784×25), best of several runs.
double gemm_rate() {
  static const double rate = [] {
    const ebm::Matrix<float> a = ebm::Matrix<float>::Random(512, 784), b = ebm::Matrix<float>::Random(784, 25);
    ebm::Matrix<float> c(512, 25);
    double best = 1e300;
    for (int trial = 0; trial < 7; ++trial) {
      const auto start = Clock::now();
      for (int r = 0; r < 200; ++r) {
        c.noalias() = a * b;
        benchmark::DoNotOptimize(c.data());
      }
      best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / 200);
    }
    return 2.0 * 512 * 784 * 25 / best;
  }();
  return rate;
}

/// FLOP/s of `threads` 1024 × 1024 float products running at once, one per thread (each thread
/// its own operands), best of `trials`: what a large matrix product reaches with that many cores
/// busy.
double concurrent_large_gemm_rate(int threads, int trials) {
  const ebm::Index n = 1024;
  struct Operands {
    ebm::Matrix<float> a, b, c;
  };
  static std::vector<Operands> operands;
  while (int(operands.size()) < threads)
    operands.push_back({ebm::Matrix<float>::Random(n, n), ebm::Matrix<float>::Random(n, n), ebm::Matrix<float>(n, n)});
  Eigen::setNbThreads(1);
  double best = 1e300;
  for (int trial = 0; trial < trials; ++trial) {
    std::latch ready(threads + 1), go(1);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        ready.count_down();
        go.wait();
        Operands& o = operands[std::size_t(t)];
        o.c.noalias() = o.a * o.b;
        benchmark::DoNotOptimize(o.c.data());
      });
    ready.arrive_and_wait();  // every thread started: the clock times the products only
    const auto start = Clock::now();
    go.count_down();
    for (std::thread& t : pool) t.join();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return 2.0 * double(n) * double(n) * double(n) * threads / best;
}

/// FLOP/s of one thread's Eigen product of two large square matrices (1024 × 1024, float), best
/// of 5, timed once: the ceiling the "fraction of the large-GEMM peak" is measured against.
double large_gemm_rate() {
  static const double rate = concurrent_large_gemm_rate(1, 5);
  return rate;
}

constexpr double kFlopsPerExample = 2.0 * 784 * 512 + 40 * 4.0 * 512 * 10 + 2.0 * 784 * 512 + 4.0 * 512 * 10;

void run_epochs(benchmark::State& state, bool tiled) {
  const int threads = int(state.range(0));
  const ebm::Index examples = state.range(1);
  const double gemm = gemm_rate();
  const double large_gemm = large_gemm_rate();
  const double one_thread = threads == 1 ? 0 : epoch_seconds(1, examples, tiled);
  double seconds = 0, peak_seconds = 0;
  long epochs = 0;
  for (auto _ : state) {
    const double before = concurrent_large_gemm_rate(threads, 3);
    const double t = epoch_seconds(threads, examples, tiled);
    const double after = concurrent_large_gemm_rate(threads, 3);
    state.SetIterationTime(t);
    seconds += t;
    // The epoch at the peak of N busy cores around it would have taken this long.
    peak_seconds += kFlopsPerExample * double(examples) / (0.5 * (before + after));
    ++epochs;
  }
  const double per_epoch = seconds / double(epochs);
  state.SetItemsProcessed(epochs * examples);
  state.counters["s/epoch"] = per_epoch;
  state.counters["s/60k_epoch"] = per_epoch * 60000.0 / double(examples);
  state.counters["vs_gemm"] = kFlopsPerExample * double(examples) / per_epoch / (gemm * threads);
  state.counters["vs_large_gemm"] = kFlopsPerExample * double(examples) / per_epoch / (large_gemm * threads);
  state.counters["vs_large_gemm_nt"] = peak_seconds / seconds;
  // One product and N products timed back to back, so that the host's drift between the start of
  // the run and its end does not enter the ratio.
  const double one_product = concurrent_large_gemm_rate(1, 5);
  state.counters["gemm_nt_scaling"] = concurrent_large_gemm_rate(threads, 5) / (one_product * threads);
  if (threads != 1) state.counters["vs_1_thread"] = one_thread / per_epoch;
}

void ep_epoch(benchmark::State& state) { run_epochs(state, true); }

/// vs_1_thread from `rounds` epochs on 1 and on N threads, alternated, so that a slow spell of
/// the host falls on both: the minima's ratio and the medians'.
void ep_epoch_scaling(benchmark::State& state) {
  const int threads = int(state.range(0));
  const ebm::Index examples = state.range(1);
  const int rounds = 9;
  std::vector<double> one, many;
  for (auto _ : state) {
    for (int r = 0; r < rounds; ++r) {
      one.push_back(epoch_seconds(1, examples));
      many.push_back(epoch_seconds(threads, examples));
    }
    state.SetIterationTime(many.back());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double min_one = *std::min_element(one.begin(), one.end());
  const double min_many = *std::min_element(many.begin(), many.end());
  state.counters["s/epoch_1_thread_min"] = min_one;
  state.counters["s/epoch_min"] = min_many;
  state.counters["vs_1_thread_min"] = min_one / min_many;
  state.counters["vs_1_thread_median"] = median(one) / median(many);
}
void ep_epoch_per_chunk(benchmark::State& state) { run_epochs(state, false); }

}  // namespace

// Full epochs (60 000 images) with 1 and 2 threads; --benchmark_filter='ep_epoch/threads:2/examples:6000' for a quick look.
BENCHMARK(ep_epoch)
    ->ArgNames({"threads", "examples"})
    ->Args({1, 60000})
    ->Args({2, 60000})
    ->Args({2, 6000})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// 9 rounds of a 6 000-image epoch on 1 and on 2 threads, alternated: about 3 s.
BENCHMARK(ep_epoch_scaling)
    ->ArgNames({"threads", "examples"})
    ->Args({2, 6000})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

BENCHMARK(ep_epoch_per_chunk)
    ->ArgNames({"threads", "examples"})
    ->Args({2, 60000})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

BENCHMARK_MAIN();
