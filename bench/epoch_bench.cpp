// One EP training epoch on Fashion-MNIST in the configuration of the popular PyTorch EP code:
// 784-512-10 hard-sigmoid network, fixed-point dynamics with 30 free and 10 nudged steps,
// batch 50, one-sided EP (β = 0.5), SGD, float. Reported as seconds per epoch, examples per
// second, and the throughput with N threads over 1 thread measured in the same run.
#include <benchmark/benchmark.h>

#include <chrono>

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
double epoch_seconds(int threads, ebm::Index examples) {
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
  options.parallel = ebm::ParallelOptions{threads, 25};
  options.eval_relax = ep.free;
  ebm::Trainer trainer(net, estimator, optimizer, options);
  const auto start = Clock::now();
  trainer.train_epoch(train);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void ep_epoch(benchmark::State& state) {
  const int threads = int(state.range(0));
  const ebm::Index examples = state.range(1);
  const double one_thread = threads == 1 ? 0 : epoch_seconds(1, examples);
  double seconds = 0;
  long epochs = 0;
  for (auto _ : state) {
    const double t = epoch_seconds(threads, examples);
    state.SetIterationTime(t);
    seconds += t;
    ++epochs;
  }
  const double per_epoch = seconds / double(epochs);
  state.SetItemsProcessed(epochs * examples);
  state.counters["s/epoch"] = per_epoch;
  state.counters["s/60k_epoch"] = per_epoch * 60000.0 / double(examples);
  if (threads != 1) state.counters["vs_1_thread"] = one_thread / per_epoch;
}

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

BENCHMARK_MAIN();
