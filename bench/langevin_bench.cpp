// The cost of Langevin phases, honestly: one EP estimate on a Fashion-MNIST minibatch (784-512-10
// hard-sigmoid network, batch 50, float, one thread, CPU time) with deterministic phases against the same
// numbers of steps under ULA and MALA, and the variance of the estimate per unit of compute with
// the nudged chains sharing the free chains' noise or not.
//
//   ep_minibatch/<phases>   30 free steps, then 10 nudged steps (Langevin: 10 nudged steps beside
//                           10 steps of the free chains continued, the pair EP needs for shared
//                           noise). Counters: images/s, and vs_deterministic = this time over the
//                           deterministic (euler) time measured in the same run. (MALA rejects
//                           nearly every move on the hard sigmoid at this T: its cost, not its use.)
//   variance/<noise>        8 replicates (seeds) of the ULA estimate on 10 images at T = 1e-3,
//                           β = 0.2, 4 chains x 5 samples: variance = Σ over parameters of the
//                           variance across seeds; variance_x_seconds = variance × seconds per
//                           estimate (lower is better; both cost the same steps).
#include <benchmark/benchmark.h>

#include <ctime>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"

namespace {

/// Process CPU seconds: the estimates run on one thread, and CPU time stays honest on a machine
/// that other jobs share (wall time there measures the neighbours).
double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

const ebm::LabelledImages<float>& fashion_test() {
  static const auto data = ebm::load_fashion_mnist<float>(ebm::kDebianFashionMnistDir, "t10k");
  return data;
}

const ebm::LayeredHopfield<float>& network() {
  static const ebm::LayeredHopfield<float> net = [] {
    ebm::LayeredHopfield<float> n({784, 512, 10});
    n.init_glorot(1);
    return n;
  }();
  return net;
}

ebm::Matrix<float> one_hot(const std::vector<int>& labels, ebm::Index n) {
  ebm::Matrix<float> t = ebm::Matrix<float>::Zero(10, n);
  for (ebm::Index j = 0; j < n; ++j) t(labels[std::size_t(j)], j) = 1;
  return t;
}

ebm::RelaxOptions phase(ebm::Method method, long steps) {
  ebm::RelaxOptions o;
  o.method = method;
  o.dt = method == ebm::Method::euler ? 1.0 : 0.5;
  o.grad_tol = 0;
  o.max_steps = steps;
  o.temperature = 1e-3;
  return o;
}

ebm::EPOptions options(ebm::Method method) {
  ebm::EPOptions ep;
  ep.beta = 0.2;
  ep.free = phase(method, 30);
  ep.nudged = phase(method, 10);
  ep.langevin.burn_in = 9;  // 9 + 1 sample = 10 steps of each chain of the pair
  ep.langevin.samples = 1;
  return ep;
}

double seconds_per_minibatch(ebm::Method method, int repeats) {
  const auto& data = fashion_test();
  const ebm::Index batch = 50;
  const ebm::Matrix<float> x = data.images.leftCols(batch);
  const ebm::Matrix<float> target = one_hot(data.labels, batch);
  const ebm::EquilibriumProp<float> ep(options(method));
  ebm::Vector<float> grad(network().params().size());
  const double start = cpu_seconds();
  for (int r = 0; r < repeats; ++r) {
    ebm::Matrix<float> s = ebm::Matrix<float>::Zero(network().state_size(), batch);
    ep.estimate(network(), x, target, s, grad, ebm::Index(r) * batch);
    benchmark::DoNotOptimize(grad.data());
  }
  return (cpu_seconds() - start) / repeats;
}

void ep_minibatch(benchmark::State& state, ebm::Method method) {
  double seconds = 0;
  long n = 0;
  for (auto _ : state) {
    seconds += seconds_per_minibatch(method, 3);
    ++n;
  }
  const double mine = seconds / double(n), deterministic = seconds_per_minibatch(ebm::Method::euler, 3);
  state.counters["images/s"] = 50 / mine;
  state.counters["ms"] = 1e3 * mine;
  state.counters["vs_deterministic"] = mine / deterministic;
}
BENCHMARK_CAPTURE(ep_minibatch, deterministic_euler, ebm::Method::euler)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(ep_minibatch, ula, ebm::Method::ula)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(ep_minibatch, mala, ebm::Method::mala)->Unit(benchmark::kMillisecond)->Iterations(3);

void variance(benchmark::State& state, bool shared) {
  const auto& data = fashion_test();
  const ebm::Index batch = 10;
  const ebm::Matrix<float> x = data.images.leftCols(batch);
  const ebm::Matrix<float> target = one_hot(data.labels, batch);
  const int replicates = 8;
  for (auto _ : state) {
    std::vector<ebm::Vector<double>> runs;
    const double start = cpu_seconds();
    for (int r = 0; r < replicates; ++r) {
      ebm::EPOptions o = options(ebm::Method::ula);
      o.langevin.chains = 4;
      o.langevin.samples = 5;
      o.langevin.shared_noise = shared;
      o.langevin.seed = 1000 + std::uint64_t(r);
      ebm::Matrix<float> s = ebm::Matrix<float>::Zero(network().state_size(), batch);
      ebm::Vector<float> grad(network().params().size());
      ebm::EquilibriumProp<float>(o).estimate(network(), x, target, s, grad);
      runs.push_back(grad.cast<double>());
    }
    const double seconds = (cpu_seconds() - start) / replicates;
    ebm::Vector<double> mean = ebm::Vector<double>::Zero(runs.front().size());
    for (const auto& g : runs) mean += g / replicates;
    double v = 0;
    for (const auto& g : runs) v += (g - mean).squaredNorm() / (replicates - 1);
    state.counters["variance"] = v;
    state.counters["s_per_estimate"] = seconds;
    state.counters["variance_x_seconds"] = v * seconds;
  }
}
BENCHMARK_CAPTURE(variance, shared_noise, true)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(variance, independent_noise, false)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
