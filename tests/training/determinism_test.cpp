// Determinism: the same seed gives bit-identical weights and metrics whatever the number of
// threads (1, 2, 3: a chunk count that does not divide evenly among them) and from one run to
// the next, through whole epochs with evaluation, for every estimator the tool trains with.
// These tests also run under ThreadSanitizer (scripts/check.sh), with a fault thrown inside a
// parallel chunk among them.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/fashion_mnist.hpp"
#include "data/split.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"
#include "training/run_settings.hpp"
#include "training/trainer.hpp"

namespace fs = std::filesystem;

namespace {

const ebm::LabelledImages<float>& fashion() {
  static const auto data = ebm::load_fashion_mnist<float>(ebm::kDebianFashionMnistDir, "t10k");
  return data;
}

ebm::test::RunSettings small_config(int threads) {
  ebm::test::RunSettings c;
  c.model.sizes = {784, 16, 10};
  c.data.batch_size = 20;
  c.data.epochs = 2;
  c.data.eval_train_size = 40;
  c.data.seed = 7;
  c.parallel.threads = threads;
  c.parallel.chunk = 3;  // 7 chunks per minibatch: uneven over 2 and 3 threads
  c.relax_free.max_steps = 15;
  c.relax_nudged.max_steps = 8;
  c.estimator.variant = ebm::EPVariant::random_sign;  // the sign draws must not depend on threads either
  c.optimizer.method = ebm::OptimizerMethod::adam;
  c.optimizer.learning_rate = 0.01;
  return c;
}

struct Result {
  ebm::Vector<float> params;
  std::vector<ebm::EpochMetrics> metrics;
};

template <class E>
Result train(const ebm::test::RunSettings& c, const E& estimator) {
  const auto train = ebm::head(fashion(), 100);
  std::vector<ebm::Index> rest(30);
  for (ebm::Index i = 0; i < 30; ++i) rest[std::size_t(i)] = 9000 + i;
  const auto test = ebm::subset(fashion(), std::span<const ebm::Index>(rest));
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  net.init_glorot(c.model.init_seed);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  ebm::Trainer trainer(net, estimator, opt, o);
  Result r;
  r.metrics = trainer.run(train, nullptr, &test);
  r.params = net.params();
  return r;
}

void expect_identical(const Result& a, const Result& b, const std::string& what) {
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), std::size_t(a.params.size()) * sizeof(float)), 0) << what;
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (std::size_t e = 0; e < a.metrics.size(); ++e) {
    ebm::EpochMetrics x = a.metrics[e], y = b.metrics[e];
    x.seconds = y.seconds = 0;  // the only field that may differ
    EXPECT_EQ(x.csv_row(), y.csv_row()) << what << ", epoch " << e + 1;
  }
}

template <class E>
void check_estimator(const E& estimator, const ebm::test::RunSettings& c1, const ebm::test::RunSettings& c2,
                     const ebm::test::RunSettings& c3, const std::string& name) {
  const Result one = train(c1, estimator);
  const Result two = train(c2, estimator);
  const Result three = train(c3, estimator);
  const Result again = train(c2, estimator);
  expect_identical(one, two, name + ": 1 vs 2 threads");
  expect_identical(one, three, name + ": 1 vs 3 threads");
  expect_identical(two, again, name + ": two runs on 2 threads");
  // It did train (identical because nothing happened would prove nothing).
  ebm::LayeredHopfield<float> fresh(c1.model.sizes, c1.model.activation);
  fresh.init_glorot(c1.model.init_seed);
  EXPECT_GT((one.params - fresh.params()).cwiseAbs().maxCoeff(), 1e-3f) << name;
}

TEST(Determinism, EquilibriumPropIsBitIdenticalAcrossThreadsAndRuns) {
  check_estimator(ebm::EquilibriumProp<float>(small_config(1).ep_options()), small_config(1), small_config(2),
                  small_config(3), "ep");
}

// A hidden layer of 128 units: W₁ comes in four tiles (256, 256, 256 and 16 input columns), so
// with 2 and 3 threads the trainer pipelines the input drive over 2 and 3 ranges of the input
// (HasPipelinedInputDrive) and updates each tile on its range's thread; with 16 units (above)
// W₁ is one tile and the drive is split by rows. Minibatches of 40 (two, then the last 20 of
// the 100 images): the pipeline's groups cut the examples into 3 parts, then into 1.
TEST(Determinism, ThePipelinedDriveIsBitIdenticalAcrossThreads) {
  auto wide = [](int threads) {
    ebm::test::RunSettings c = small_config(threads);
    c.model.sizes = {784, 128, 10};
    c.data.batch_size = 40;
    return c;
  };
  static_assert(ebm::HasPipelinedInputDrive<ebm::LayeredHopfield<float>>);
  ebm::LayeredHopfield<float> net(wide(1).model.sizes);
  ebm::Index w1_tiles = 0;
  for (ebm::Index i = 0; i < net.param_tile_count(); ++i) w1_tiles += net.param_tile_input_columns(i).size > 0;
  ASSERT_EQ(w1_tiles, 4);
  check_estimator(ebm::EquilibriumProp<float>(wide(1).ep_options()), wide(1), wide(2), wide(3), "ep, 784-128-10");
}

TEST(Determinism, ChlAndEarlyInferenceAreBitIdenticalAcrossThreadsAndRuns) {
  check_estimator(ebm::ContrastiveHebbian<float>(small_config(1).chl_options()), small_config(1), small_config(2),
                  small_config(3), "chl");
  check_estimator(ebm::EarlyInference<float>(small_config(1).early_options()), small_config(1), small_config(2),
                  small_config(3), "early_inference");
}

TEST(Determinism, AFaultInsideAParallelChunkStopsTrainingCleanly) {
  // The whole run diverges at once (a learning rate that overflows float): whichever chunk or
  // thread meets it first, training stops with a TrainingFault naming the epoch and the step.
  ebm::test::RunSettings c = small_config(2);
  c.optimizer.method = ebm::OptimizerMethod::sgd;
  c.optimizer.learning_rate = 1e38;
  try {
    train(c, ebm::EquilibriumProp<float>(c.ep_options()));
    FAIL() << "no fault";
  } catch (const ebm::TrainingFault& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("epoch 1, minibatch "), std::string::npos) << what;
    EXPECT_NE(what.find("(optimizer step "), std::string::npos) << what;
  }
}

}  // namespace
