// Speed of the convolutional Hopfield energy (models/conv_hopfield.hpp) against the machine's GEMM,
// measured in the same run: one state-gradient evaluation (a relaxation step) and one parameter
// gradient of a batch of 25 Fashion-MNIST-sized images through configs/fashion_conv.toml's network
// (5×5 convolutions, pool 2, dense 10) at two widths, 16/32 and 24/48 channels (the arguments),
// in float. Counters: images/s, the GFLOP/s of the convolutions and dense products (2 flops per
// multiply-add, im2col/pooling/ρ not counted) and their ratio to a plain Eigen float GEMM (the
// better of 512³ and the largest convolution's block shape, timed just before, single thread). Rates are per CPU second
// (Google Benchmark's default without UseRealTime), so a loaded machine skews them less.

#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>

#include "models/conv_hopfield.hpp"

namespace {

using ebm::Index;

/// This thread's CPU time: on a shared machine wall time measures the neighbours too.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// FLOP/s (per CPU second) of one float GEMM C = A·B (m×k times k×n), repeated for ~0.2 s of CPU time.
double gemm_flops(Index m, Index k, Index n) {
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(k, n);
  Eigen::MatrixXf c(m, n);
  long reps = 0;
  const double start = cpu_seconds();
  double elapsed = 0;
  do {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    ++reps;
    elapsed = cpu_seconds() - start;
  } while (elapsed < 0.2);
  return 2.0 * double(m * k * n) * double(reps) / elapsed;
}

/// The machine's GEMM rate: the best of a square 512³ product and the conv's own block shape
/// (conv 2 for one example: 32×400 times 400×196).
double gemm_flops() { return std::max(gemm_flops(512, 512, 512), gemm_flops(32, 400, 196)); }

ebm::ConvHopfield<float> fashion_net(const benchmark::State& state) {
  ebm::ConvHopfieldOptions o;  // its defaults are configs/fashion_conv.toml's network but for the widths
  o.channels = {Index(state.range(0)), Index(state.range(1))};
  return ebm::ConvHopfieldKind::make<float>(o);
}

void BM_ConvStateGradient(benchmark::State& state) {
  const auto net = fashion_net(state);
  const Index batch = 25;
  const Eigen::MatrixXf x = (Eigen::MatrixXf::Random(net.input_size(), batch).array() + 1.0f) * 0.5f;
  Eigen::MatrixXf s = (Eigen::MatrixXf::Random(net.state_size(), batch).array() + 1.0f) * 0.5f;
  Eigen::MatrixXf drive(net.input_drive_rows(), batch), g(net.state_size(), batch);
  net.input_drive(x, drive);
  ebm::ConvHopfield<float>::Workspace ws;
  const double gemm = gemm_flops();
  for (auto _ : state) {
    net.state_gradient_driven(s, drive, g, ws);
    benchmark::DoNotOptimize(g.data());
  }
  const double flops = 2.0 * net.gradient_macs() * double(batch);
  state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["gemm_GFLOP/s"] = gemm * 1e-9;
  state.counters["ratio_to_gemm"] =
      benchmark::Counter(flops / gemm, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ConvStateGradient)->ArgNames({"c1", "c2"})->Args({16, 32})->Args({24, 48})->Unit(benchmark::kMillisecond);

void BM_ConvParamGradient(benchmark::State& state) {
  const auto net = fashion_net(state);
  const Index batch = 25;
  const Eigen::MatrixXf x = (Eigen::MatrixXf::Random(net.input_size(), batch).array() + 1.0f) * 0.5f;
  const Eigen::MatrixXf s = (Eigen::MatrixXf::Random(net.state_size(), batch).array() + 1.0f) * 0.5f;
  Eigen::VectorXf grad(net.params().size());
  for (auto _ : state) {
    net.param_gradient(s, x, grad);
    benchmark::DoNotOptimize(grad.data());
  }
  state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ConvParamGradient)->ArgNames({"c1", "c2"})->Args({16, 32})->Args({24, 48})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
