// The trainer: with an estimator exact for its model (a one-layer hard-sigmoid network, whose
// free fixed point is clip(Wx + b)), then with Equilibrium Propagation on Fashion-MNIST:
// learning reaches a stated accuracy, 1 and 2 threads give bit-identical weights, and a
// resumed run gives the weights of an uninterrupted one.
#include <gtest/gtest.h>

#include <limits>
#include <memory>

#include <filesystem>
#include <fstream>

#include "core/random.hpp"
#include "data/fashion_mnist.hpp"
#include "learning/common.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"
#include "training/run_settings.hpp"
#include "training/trainer.hpp"

namespace fs = std::filesystem;

namespace {

/// The exact gradient of J = ½‖s* − d‖² for a one-layer hard-sigmoid network, whose free
/// fixed point is s* = clip(Wx + b, 0, 1): dJ/dW = ((s* − d) ⊙ 1[0 < Wx + b < 1]) xᵀ.
struct ClosedFormOneLayer {
  template <class M>
  ebm::EstimateSummary estimate(const M& model, ebm::ConstRef<float> x, ebm::ConstRef<float> target,
                                ebm::Matrix<float>& s, ebm::VectorRef<float> grad, ebm::Index) const {
    const ebm::Matrix<float> pre = (model.weight(1) * x).colwise() + model.bias(1);
    s = pre.array().max(0.0f).min(1.0f).matrix();
    const ebm::Matrix<float> e =
        ((s - target).array() * (pre.array() > 0.0f && pre.array() < 1.0f).template cast<float>()).matrix();
    const ebm::ParamBlock& w = model.param_blocks()[0];
    const ebm::ParamBlock& b = model.param_blocks()[1];
    Eigen::Map<ebm::Matrix<float>>(grad.data() + w.offset, w.rows, w.cols) = e * x.transpose();
    grad.segment(b.offset, b.rows) = e.rowwise().sum();
    ebm::EstimateSummary summary;
    summary.free_phase.examples = long(x.cols());
    ebm::detail::score_free_phase(model, s, target, ebm::SquaredError<float>{}, summary);
    return summary;
  }
};
static_assert(ebm::Estimator<ClosedFormOneLayer, ebm::LayeredHopfield<float>>);

/// Ten noisy prototypes in [−1, 1]^20: a task a one-layer network can learn. (Centred inputs:
/// with all-positive inputs the ten output units start out nearly alike, and a hard-sigmoid unit
/// pushed below 0 for every example by the nine classes it must reject never recovers.)
ebm::LabelledImages<float> prototypes(ebm::Index n, std::uint64_t stream) {
  ebm::Rng proto(5, 0), noise(5, stream);
  ebm::Matrix<float> centres(20, 10);
  for (ebm::Index i = 0; i < centres.size(); ++i) centres.data()[i] = float(2 * proto.uniform() - 1);
  ebm::LabelledImages<float> d;
  d.images.resize(20, n);
  for (ebm::Index j = 0; j < n; ++j) {
    const int label = int(j % 10);
    d.labels.push_back(label);
    for (ebm::Index i = 0; i < 20; ++i)
      d.images(i, j) = centres(i, label) + 0.5f * float(noise.normal());
  }
  return d;
}

ebm::TrainerOptions trainer_options(const ebm::test::RunSettings& c, fs::path out = {}) {
  ebm::TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  o.out_dir = std::move(out);
  o.config_text = "[data]\nseed = " + std::to_string(c.data.seed) + "\n[optimizer]\n";
  return o;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ebm_trainer_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

using TrainerExact = TempDir;

TEST_F(TrainerExact, LearnsNoisyPrototypesAndWritesMetricsAndCheckpoints) {
  ebm::test::RunSettings c;
  c.model.sizes = {20, 10};
  c.data.batch_size = 16;
  c.data.epochs = 5;
  c.data.eval_train_size = 0;
  c.parallel.chunk = 5;
  c.optimizer.learning_rate = 0.05;
  const auto train = prototypes(400, 1), test = prototypes(200, 2);
  ebm::LayeredHopfield<float> net(c.model.sizes);
  net.init_glorot(c.model.init_seed, 0.01f);
  net.bias(1).setConstant(0.5f);  // start every unit inside (0, 1), where its gradient is not zero
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ClosedFormOneLayer est;
  ebm::Trainer trainer(net, est, opt, trainer_options(c, dir_));
  const double before = trainer.evaluate(test).accuracy;
  const auto metrics = trainer.run(train, nullptr, &test);
  ASSERT_EQ(metrics.size(), 5u);
  for (const auto& m : metrics) std::cout << "  " << m.brief() << "\n";
  EXPECT_LT(before, 0.5);
  EXPECT_GT(metrics.back().test_accuracy, 0.9) << metrics.back().brief();
  EXPECT_GT(metrics.back().eval_train_accuracy, 0.9);
  EXPECT_LT(metrics.back().loss, metrics.front().loss);
  EXPECT_EQ(metrics.back().step, 5 * 25);
  // The evaluation relaxes to clip(Wx + b) in one alternating sweep.
  EXPECT_LE(metrics.back().free_steps, 1.0);
  // metrics.csv has a header and one row per epoch; the checkpoint holds the final weights.
  std::ifstream csv(dir_ / "metrics.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 6);
  const auto ck = ebm::read_checkpoint<float>(dir_ / "checkpoint.bin");
  EXPECT_EQ(ck.params, net.params());
  EXPECT_EQ(ck.epoch, 5);
  EXPECT_EQ(ck.step, 125);
  EXPECT_NE(ck.config.find("[optimizer]"), std::string::npos);
}

// ---- Callbacks: the loop calls its hooks; early stopping and schedules act through them -----

/// Records every hook call, and asks to stop after `stop_after` epochs (0: never).
struct Recorder : ebm::TrainingCallback {
  std::vector<std::string> calls;
  long stop_after = 0;
  void on_epoch_begin(long epoch) override { calls.push_back("begin " + std::to_string(epoch)); }
  void on_batch(ebm::Index b, ebm::Index n, double, double) override {
    if (b + 1 == n) calls.push_back("last batch");
  }
  bool on_epoch_end(const ebm::EpochMetrics& m) override {
    calls.push_back("end " + std::to_string(m.epoch));
    return stop_after > 0 && m.epoch >= stop_after;
  }
  void on_resume(long epoch) override { calls.push_back("resume " + std::to_string(epoch)); }
};

TEST_F(TrainerExact, CallbacksSeeEveryEpochAndCanStopTraining) {
  ebm::test::RunSettings c;
  c.model.sizes = {20, 10};
  c.data.batch_size = 40;
  c.data.epochs = 6;
  c.data.eval_train_size = 10;
  const auto train = prototypes(80, 1), test = prototypes(40, 2);
  ebm::LayeredHopfield<float> net(c.model.sizes);
  net.init_glorot(c.model.init_seed, 0.01f);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ClosedFormOneLayer est;
  ebm::Trainer trainer(net, est, opt, trainer_options(c, dir_));
  auto recorder = std::make_shared<Recorder>();
  recorder->stop_after = 2;
  trainer.add_callback(recorder);
  // A step schedule halves the rates every epoch: the factor the optimizer holds after epoch 2 is ¼.
  ebm::ScheduleOptions schedule;
  schedule.kind = ebm::ScheduleKind::step;
  schedule.step_epochs = 1;
  schedule.step_factor = 0.5;
  trainer.add_callback(std::make_shared<ebm::LearningRateSchedule>(schedule, c.data.epochs,
                                                                   [&](double f) { opt.set_rate_factor(f); }));
  const auto metrics = trainer.run(train, nullptr, &test);
  EXPECT_EQ(metrics.size(), 2u);  // stopped after epoch 2 of 6
  EXPECT_EQ(trainer.epoch(), 2);
  EXPECT_EQ(recorder->calls, (std::vector<std::string>{"begin 0", "last batch", "end 1", "begin 1", "last batch",
                                                       "end 2"}));
  EXPECT_DOUBLE_EQ(opt.rate_factor(), 0.5);  // epoch index 1: 0.5^1
  // The built-in callbacks ran before ours: two rows in metrics.csv, the checkpoint of epoch 2.
  EXPECT_EQ(ebm::read_checkpoint<float>(dir_ / "checkpoint.bin").epoch, 2);
  // Resuming tells the callbacks where the run was.
  ebm::Trainer again(net, est, opt, trainer_options(c, dir_));
  auto second = std::make_shared<Recorder>();
  again.add_callback(second);
  again.resume(dir_ / "checkpoint.bin");
  EXPECT_EQ(second->calls, (std::vector<std::string>{"resume 2"}));
}

TEST(Schedules, FactorsOverEpochs) {
  ebm::ScheduleOptions s;
  EXPECT_EQ(s.factor(7, 10), 1.0);
  s.kind = ebm::ScheduleKind::step;
  s.step_epochs = 3;
  s.step_factor = 0.1;
  EXPECT_DOUBLE_EQ(s.factor(2, 10), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(3, 10), 0.1);
  EXPECT_NEAR(s.factor(7, 10), 0.01, 1e-15);
  s.kind = ebm::ScheduleKind::cosine;
  s.min_factor = 0.2;
  EXPECT_DOUBLE_EQ(s.factor(0, 10), 1.0);
  EXPECT_NEAR(s.factor(5, 10), 0.6, 1e-12);  // halfway: the mean of 1 and 0.2
  EXPECT_NEAR(s.factor(10, 10), 0.2, 1e-12);
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  ebm::EarlyStopping stop(2, 0.001);
  ebm::EpochMetrics m;
  const double accuracies[] = {0.5, 0.6, 0.6005, 0.59, 0.7};
  std::vector<bool> stops;
  for (int e = 0; e < 4; ++e) {
    m.epoch = e + 1;
    m.validation_accuracy = accuracies[e];
    stops.push_back(stop.on_epoch_end(m));
  }
  // 0.6005 is within min_delta of 0.6: epochs 3 and 4 do not improve, so epoch 4 stops.
  EXPECT_EQ(stops, (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(stop.best_epoch(), 2);
  m.validation_accuracy = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(stop.on_epoch_end(m), ebm::InvalidOptions);  // no validation set to watch
}

// ---- Equilibrium Propagation on a Fashion-MNIST subset -------------------------------------

const ebm::LabelledImages<float>& fashion_t10k() {
  static const auto data = ebm::load_fashion_mnist<float>(ebm::kDebianFashionMnistDir, "t10k");
  return data;
}

ebm::test::RunSettings ep_config() {
  ebm::test::RunSettings c;
  c.model.sizes = {784, 32, 10};
  c.data.batch_size = 20;
  c.data.eval_train_size = 0;
  c.parallel.chunk = 5;
  c.relax_free.max_steps = 40;
  c.relax_nudged.max_steps = 20;
  c.estimator.beta = 0.5;
  c.optimizer.learning_rates = {0.1, 0.05};
  return c;
}

/// Trains for `epochs` (or `steps` minibatches of epoch 0 when steps > 0) and returns the weights.
ebm::Vector<float> train_ep(ebm::test::RunSettings c, const ebm::LabelledImages<float>& train, long epochs,
                            fs::path out = {}, const fs::path& resume = {}, long steps = 0,
                            const ebm::Augmentation& augment = {}) {
  c.data.epochs = epochs;
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  net.init_glorot(c.model.init_seed, float(c.model.init_gain));
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::EquilibriumProp<float> ep(c.ep_options());
  ebm::TrainerOptions options = trainer_options(c, std::move(out));
  options.augment = augment;
  ebm::Trainer trainer(net, ep, opt, options);
  if (!resume.empty()) trainer.resume(resume);
  if (steps > 0) {
    const ebm::Minibatches batches(train.size(), c.data.batch_size, c.data.seed, 0);
    for (long s = 0; s < steps; ++s) trainer.train_batch(train, batches[s]);
  } else {
    trainer.run(train);
  }
  return net.params();
}

TEST(TrainerEP, LearnsAFashionMnistSubset) {
  const auto train = ebm::head(fashion_t10k(), 2000);
  std::vector<ebm::Index> rest(400);
  for (ebm::Index i = 0; i < 400; ++i) rest[std::size_t(i)] = 9000 + i;
  const auto test = ebm::subset(fashion_t10k(), std::span<const ebm::Index>(rest));
  ebm::test::RunSettings c = ep_config();
  c.data.epochs = 5;
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  net.init_glorot(c.model.init_seed);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::EquilibriumProp<float> ep(c.ep_options());
  ebm::Trainer trainer(net, ep, opt, trainer_options(c));
  const double before = trainer.evaluate(test).accuracy;
  const auto metrics = trainer.run(train, nullptr, &test);
  std::cout << "  before training: test accuracy " << before << "\n";
  for (const auto& m : metrics) std::cout << "  " << m.brief() << "\n";
  // Stated target: 5 epochs of 2000 examples take a 784-32-10 network from chance (9.5%) to > 60% (measured: 65.5%).
  EXPECT_GT(metrics.back().test_accuracy, 0.60);
  EXPECT_GT(metrics.back().test_accuracy, before + 0.3);
  EXPECT_GT(metrics.back().free_steps, 1.0);
}

TEST(TrainerEP, OneAndTwoThreadsGiveBitIdenticalWeights) {
  const auto train = ebm::head(fashion_t10k(), 200);
  ebm::test::RunSettings c = ep_config();
  c.estimator.variant = ebm::EPVariant::random_sign;  // the sign draw must not depend on threads either
  c.optimizer.method = ebm::OptimizerMethod::adam;
  c.optimizer.learning_rate = 0.01;
  c.optimizer.learning_rates.clear();
  c.parallel.threads = 1;
  const ebm::Vector<float> one = train_ep(c, train, 1, {}, {}, 4);
  c.parallel.threads = 2;
  const ebm::Vector<float> two = train_ep(c, train, 1, {}, {}, 4);
  ebm::test::RunSettings fresh = c;
  const ebm::Vector<float> untrained = train_ep(fresh, train, 0);
  EXPECT_GT((one - untrained).cwiseAbs().maxCoeff(), 1e-3f);  // it did train
  EXPECT_EQ(std::memcmp(one.data(), two.data(), std::size_t(one.size()) * sizeof(float)), 0);
}

// Augmentation is drawn per (seed, epoch, example): the same weights for any number of threads, and
// the same whether a minibatch was gathered (and augmented) ahead, in pieces during the previous
// update, or on its own when its turn comes.
TEST(TrainerEP, AugmentedTrainingIsTheSameForAnyThreadsAndAnyGathering) {
  const auto train = ebm::head(fashion_t10k(), 200);
  ebm::test::RunSettings c = ep_config();
  ebm::Augmentation augment;
  augment.height = train.height;
  augment.width = train.width;
  augment.shift = 2;
  augment.flip = true;
  ASSERT_EQ(augment.height * augment.width, train.images.rows());
  const long batches = 200 / c.data.batch_size;
  c.parallel.threads = 1;
  const ebm::Vector<float> one = train_ep(c, train, 1, {}, {}, 0, augment);
  c.parallel.threads = 2;
  const ebm::Vector<float> two = train_ep(c, train, 1, {}, {}, 0, augment);
  const ebm::Vector<float> each_on_its_own = train_ep(c, train, 1, {}, {}, batches, augment);
  const ebm::Vector<float> plain = train_ep(c, train, 1);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), std::size_t(one.size()) * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), each_on_its_own.data(), std::size_t(one.size()) * sizeof(float)), 0);
  EXPECT_GT((one - plain).cwiseAbs().maxCoeff(), 1e-4f);  // the augmentation did change the images
  // A shape that does not fit the images is refused before anything trains.
  augment.width += 1;
  EXPECT_THROW(train_ep(c, train, 1, {}, {}, 0, augment), ebm::InvalidOptions);
}

// The fast path (relax the chunks, then the Hebbian difference of the whole minibatch in
// parameter tiles) against the reference path (one full-size estimate per chunk, summed): one
// SGD step from the same weights must agree to float rounding, for every EP variant (the
// random-sign variant folds a negative β into the order of its pair) and for CHL.
TEST(TrainerEP, TiledUpdateMatchesTheSumOfPerChunkEstimates) {
  const auto train = ebm::head(fashion_t10k(), 200);
  static_assert(ebm::Trainer<ebm::LayeredHopfield<float>, ebm::EquilibriumProp<float>>::kTiled);
  static_assert(ebm::Trainer<ebm::LayeredHopfield<float>, ebm::ContrastiveHebbian<float>>::kTiled);
  for (const auto variant : {ebm::EPVariant::one_sided, ebm::EPVariant::symmetric, ebm::EPVariant::random_sign}) {
    ebm::test::RunSettings c = ep_config();
    c.estimator.variant = variant;
    c.parallel.threads = 2;
    c.parallel.tiled_update = true;
    const ebm::Vector<float> tiled = train_ep(c, train, 1, {}, {}, 1);
    c.parallel.tiled_update = false;
    const ebm::Vector<float> per_chunk = train_ep(c, train, 1, {}, {}, 1);
    const ebm::Vector<float> untrained = train_ep(c, train, 0);
    const float moved = (per_chunk - untrained).cwiseAbs().maxCoeff();
    EXPECT_GT(moved, 1e-3f) << ebm::to_string(variant);
    // Float sums of 20 examples in another order: a few ulps of the step, far below the step itself.
    EXPECT_LT((tiled - per_chunk).cwiseAbs().maxCoeff(), 1e-5f * moved + 1e-7f) << ebm::to_string(variant);
  }
  // CHL through the trainer directly.
  auto chl_step = [&](bool tiled) {
    ebm::test::RunSettings c = ep_config();
    c.parallel.tiled_update = tiled;
    ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
    net.init_glorot(c.model.init_seed);
    ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
    ebm::CHLOptions chl;
    chl.free = c.relax_free;
    chl.clamped = c.relax_nudged;
    ebm::ContrastiveHebbian<float> estimator(chl);
    ebm::Trainer trainer(net, estimator, opt, trainer_options(c));
    const ebm::Minibatches batches(train.size(), c.data.batch_size, c.data.seed, 0);
    trainer.train_batch(train, batches[0]);
    return ebm::Vector<float>(net.params());
  };
  const ebm::Vector<float> a = chl_step(true), b = chl_step(false);
  EXPECT_LT((a - b).cwiseAbs().maxCoeff(), 1e-6f);
}

// The tiled path applies each tile as soon as it is computed only where the model's bound shows
// that no tile can be non-finite; otherwise it checks every tile first, and a non-finite one stops
// the step with the parameters as they were. Forced here with a β so small that the gradient's
// scale 1/(β·batch) overflows float: the bound times the scale is infinite, and so is the gradient.
TEST(TrainerEP, TiledStepWithANonFiniteGradientLeavesTheParametersAsTheyWere) {
  const auto train = ebm::head(fashion_t10k(), 40);
  ebm::test::RunSettings c = ep_config();
  c.estimator.beta = 1e-40;
  c.parallel.threads = 2;
  c.parallel.tiled_update = true;
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  net.init_glorot(c.model.init_seed);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::EquilibriumProp<float> ep(c.ep_options());
  ebm::Trainer trainer(net, ep, opt, trainer_options(c));
  static_assert(decltype(trainer)::kTiled && ebm::HasHebbianBound<ebm::LayeredHopfield<float>>);
  const ebm::Vector<float> before = net.params();
  const ebm::Minibatches batches(train.size(), c.data.batch_size, c.data.seed, 0);
  try {
    trainer.train_batch(train, batches[0]);
    FAIL() << "a step with an infinite gradient scale went through";
  } catch (const ebm::DivergenceError& e) {
    EXPECT_NE(std::string(e.what()).find("is not finite"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(net.params() == before) << "a failed step moved the parameters";
  EXPECT_EQ(opt.steps(), 0);
}

using TrainerResume = TempDir;

TEST_F(TrainerResume, ResumedRunMatchesUninterruptedRun) {
  const auto train = ebm::head(fashion_t10k(), 100);
  ebm::test::RunSettings c = ep_config();
  c.optimizer.method = ebm::OptimizerMethod::adam;  // so that the optimizer state matters
  c.optimizer.learning_rate = 0.005;
  c.optimizer.learning_rates.clear();
  c.parallel.threads = 2;
  const ebm::Vector<float> straight = train_ep(c, train, 2);
  train_ep(c, train, 1, dir_);                                       // stops after epoch 1 …
  const ebm::Vector<float> resumed = train_ep(c, train, 2, dir_, dir_ / "checkpoint.bin");  // … and continues
  EXPECT_EQ(std::memcmp(straight.data(), resumed.data(), std::size_t(straight.size()) * sizeof(float)), 0);
  EXPECT_EQ(ebm::read_checkpoint<float>(dir_ / "checkpoint.bin").epoch, 2);
  // Another seed cannot resume exactly: refused, naming the field.
  ebm::test::RunSettings other = c;
  other.data.seed = 2;
  try {
    train_ep(other, train, 3, dir_, dir_ / "checkpoint.bin");
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'seed'"), std::string::npos) << e.what();
  }
}

// With Polyak averaging the checkpoint holds the averaged weights (what is evaluated) and the
// optimizer's iterate: a resumed run continues both exactly, and the evaluation differs from the
// iterate's.
TEST_F(TrainerResume, AveragedWeightsAreCheckpointedAndResumedExactly) {
  const auto train = ebm::head(fashion_t10k(), 100);
  ebm::test::RunSettings c = ep_config();
  c.optimizer.method = ebm::OptimizerMethod::adam;
  c.optimizer.learning_rate = 0.005;
  c.optimizer.learning_rates.clear();
  c.optimizer.average_decay = 0.5;
  const fs::path straight_dir = dir_ / "straight", resumed_dir = dir_ / "resumed";
  const ebm::Vector<float> straight = train_ep(c, train, 2, straight_dir);
  train_ep(c, train, 1, resumed_dir);
  const ebm::Vector<float> resumed = train_ep(c, train, 2, resumed_dir, resumed_dir / "checkpoint.bin");
  EXPECT_EQ(std::memcmp(straight.data(), resumed.data(), std::size_t(straight.size()) * sizeof(float)), 0);
  const auto a = ebm::read_checkpoint<float>(straight_dir / "checkpoint.bin");
  const auto b = ebm::read_checkpoint<float>(resumed_dir / "checkpoint.bin");
  EXPECT_EQ(a.params, b.params);
  EXPECT_GT((a.params - straight).cwiseAbs().maxCoeff(), 1e-5f);  // the average, not the iterate
}

}  // namespace

namespace {

/// Each of CHL and early inference trains the Fashion-MNIST subset above chance by a margin.
template <class E>
double train_other(const E& estimator, const ebm::test::RunSettings& c) {
  const auto train = ebm::head(fashion_t10k(), 1000);
  std::vector<ebm::Index> rest(300);
  for (ebm::Index i = 0; i < 300; ++i) rest[std::size_t(i)] = 9000 + i;
  const auto test = ebm::subset(fashion_t10k(), std::span<const ebm::Index>(rest));
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  net.init_glorot(c.model.init_seed);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::Trainer trainer(net, estimator, opt, trainer_options(c));
  const auto metrics = trainer.run(train, nullptr, &test);
  std::cout << "  " << metrics.back().brief() << "\n";
  return metrics.back().test_accuracy;
}

TEST(TrainerOtherEstimators, ChlAndEarlyInferenceLearn) {
  ebm::test::RunSettings c = ep_config();
  c.data.epochs = 3;
  // Stated target: 3 epochs of 1000 examples reach > 45% test accuracy (chance: 10%;
  // measured: CHL 62.0%, early inference 58.3%).
  EXPECT_GT(train_other(ebm::ContrastiveHebbian<float>(c.chl_options()), c), 0.45);
  EXPECT_GT(train_other(ebm::EarlyInference<float>(c.early_options()), c), 0.45);
}

}  // namespace
