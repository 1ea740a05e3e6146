// One optimizer step over the parameters of the 784-512-10 network (407 050 floats), as the main
// job takes it: Adam with the moving average of the weights (configs/fashion_ep.toml). Reported as
// nanoseconds per parameter and, measured in the same run, as a ratio against the floor of the
// step's memory traffic: a pass that reads and writes the same four vectors (parameters, two
// moments, average) and reads the gradient, with one multiply-add per entry (vs_stream: 1 is a
// step as cheap as moving its bytes).
//   adam_step/early  steps 10 to 14: both bias corrections divide (c₁, c₂ < 1);
//   adam_step/late   step 1000: c₁ has rounded to 1 and its division is left out (same bits).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include "training/optimizer.hpp"

namespace {

constexpr ebm::Index kParams = 784 * 512 + 512 * 10 + 512 + 10;

const std::vector<ebm::ParamBlock>& blocks() {
  static const std::vector<ebm::ParamBlock> b = {
      {"W1", 0, 512, 784}, {"W2", 401408, 10, 512}, {"b1", 406528, 512, 1}, {"b2", 407040, 10, 1}};
  return b;
}

/// Seconds per pass of the streaming floor, best of several.
double stream_seconds(ebm::Vector<float>& p, ebm::Vector<float>& m, ebm::Vector<float>& v,
                      ebm::Vector<float>& a, const ebm::Vector<float>& g) {
  double best = 1e9;
  for (int r = 0; r < 20; ++r) {
    const auto start = std::chrono::steady_clock::now();
    float* __restrict pp = p.data();
    float* __restrict pm = m.data();
    float* __restrict pv = v.data();
    float* __restrict pa = a.data();
    const float* __restrict pg = g.data();
    for (ebm::Index i = 0; i < kParams; ++i) {  // one pass, five streams
      pp[i] += 1e-3f * pg[i];
      pm[i] += 1e-3f * pg[i];
      pv[i] += 1e-3f * pg[i];
      pa[i] += 1e-3f * pg[i];
    }
    benchmark::DoNotOptimize(pp);
    benchmark::DoNotOptimize(pm);
    benchmark::DoNotOptimize(pv);
    benchmark::DoNotOptimize(pa);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

void adam_step(benchmark::State& state) {
  ebm::OptimizerOptions o;
  o.method = ebm::OptimizerMethod::adam;
  o.learning_rates = {5e-4, 5e-4};
  o.average_decay = 0.995;
  ebm::Optimizer<float> opt(o, blocks(), kParams);
  ebm::Vector<float> p = ebm::Vector<float>::Random(kParams);
  const ebm::Vector<float> g = ebm::Vector<float>::Random(kParams) * 1e-2f;
  const long warm = state.range(0);
  for (long i = 0; i < warm; ++i) opt.step(p, g);
  double best = 1e9, total = 0;
  long steps = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    opt.step(p, g);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(s);
    best = std::min(best, s);
    total += s;
    ++steps;
  }
  ebm::Vector<float> sp = p, sm = p, sv = p, sa = p;
  const double floor = stream_seconds(sp, sm, sv, sa, g);
  state.counters["ns/param"] = 1e9 * total / double(steps) / double(kParams);
  state.counters["vs_stream"] = floor / best;
}
BENCHMARK(adam_step)->Name("adam_step/early")->Arg(9)->UseManualTime()->Iterations(5);
BENCHMARK(adam_step)->Name("adam_step/late")->Arg(999)->UseManualTime()->Iterations(200);

}  // namespace

BENCHMARK_MAIN();
