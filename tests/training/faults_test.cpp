// Numerical faults during training: each is detected at the step where it happens, reported
// with where (epoch, minibatch, optimizer step, the training example or the parameter), and
// stops training before anything is written, so the last good checkpoint and metrics.csv stay
// as they were. Bad datasets are refused before training starts.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/random.hpp"
#include "learning/common.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"
#include "training/run_settings.hpp"
#include "training/faults.hpp"
#include "training/trainer.hpp"

namespace fs = std::filesystem;

namespace {

/// Ten noisy prototypes in [−1, 1]^20 (as in trainer_test), 20 inputs, labels j mod 10.
ebm::LabelledImages<float> prototypes(ebm::Index n) {
  ebm::Rng proto(5, 0), noise(5, 1);
  ebm::Matrix<float> centres(20, 10);
  for (ebm::Index i = 0; i < centres.size(); ++i) centres.data()[i] = float(2 * proto.uniform() - 1);
  ebm::LabelledImages<float> d;
  d.images.resize(20, n);
  for (ebm::Index j = 0; j < n; ++j) {
    d.labels.push_back(int(j % 10));
    for (ebm::Index i = 0; i < 20; ++i) d.images(i, j) = centres(i, j % 10) + 0.3f * float(noise.normal());
  }
  return d;
}

constexpr float kNanMarker = 7.0f;      // pixel 0 of an example: its gradient becomes NaN
constexpr float kDivergeMarker = 9.0f;  // pixel 0 of an example: its relaxation "diverges"

/// A stand-in estimator that misbehaves on marked examples: a NaN gradient entry, or a
/// DivergenceError worded as relax() words it, with the run's example numbering.
struct Scripted {
  template <class M>
  ebm::EstimateSummary estimate(const M& model, ebm::ConstRef<float> x, ebm::ConstRef<float> target,
                                ebm::Matrix<float>& s, ebm::VectorRef<float> grad, ebm::Index first) const {
    s = ebm::Matrix<float>::Constant(model.state_size(), x.cols(), 0.5f);
    grad.setConstant(0.01f * float(x.cols()));
    for (ebm::Index j = 0; j < x.cols(); ++j) {
      if (x(0, j) == kDivergeMarker)
        // As relax() throws it: the message for people, the site for the trainer.
        throw ebm::DivergenceError("fixed_point relaxation diverged at step 3 (t = 3): example " +
                                       std::to_string(first + j) + ", layer 1, unit 4 has state nan",
                                   {3, 3.0, long(first + j), 1, 4, std::numeric_limits<double>::quiet_NaN()});
      if (x(0, j) == kNanMarker) grad[5] = std::numeric_limits<float>::quiet_NaN();
    }
    ebm::EstimateSummary summary;
    summary.free_phase.examples = long(x.cols());
    summary.free_phase.termination = ebm::Termination::converged;
    ebm::detail::score_free_phase(model, s, target, ebm::SquaredError<float>{}, summary);
    return summary;
  }
};

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ebm_faults_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    config_.model.sizes = {20, 8, 10};
    config_.data.batch_size = 10;
    config_.data.eval_train_size = 20;
    config_.parallel.threads = 2;
    config_.parallel.chunk = 4;
    config_.relax_free.max_steps = 20;
    config_.relax_nudged.max_steps = 10;
  }
  void TearDown() override { fs::remove_all(dir_); }

  ebm::TrainerOptions options(long epochs) const {
    ebm::TrainerOptions o;
    o.batch_size = config_.data.batch_size;
    o.epochs = epochs;
    o.seed = config_.data.seed;
    o.eval_train_size = config_.data.eval_train_size;
    o.parallel = config_.parallel;
    o.eval_relax = config_.relax_free;
    o.nudged_grad_tol = config_.relax_nudged.grad_tol;
    o.on_unconverged = config_.on_unconverged;
    o.out_dir = dir_;
    return o;
  }
  /// Trains `epochs` (resuming from dir_ when it holds a checkpoint) with estimator `e`.
  template <class E>
  std::vector<ebm::EpochMetrics> train(const ebm::LabelledImages<float>& data, long epochs, const E& e) {
    ebm::LayeredHopfield<float> net(config_.model.sizes, config_.model.activation);
    net.init_glorot(1);
    ebm::Optimizer<float> opt(config_.optimizer, net.param_blocks(), net.params().size());
    ebm::Trainer trainer(net, e, opt, options(epochs));
    if (fs::exists(dir_ / "checkpoint.bin")) trainer.resume(dir_ / "checkpoint.bin");
    return trainer.run(data, nullptr, &data);
  }
  std::string bytes_of(const fs::path& p) const {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  /// Runs f, expecting a TrainingFault whose message contains every one of `parts`.
  template <class F>
  void expect_fault(F&& f, std::initializer_list<std::string> parts) {
    try {
      f();
      FAIL() << "no fault";
    } catch (const ebm::TrainingFault& e) {
      for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  /// Where example k sits in the minibatches of epoch e (0-based): "minibatch b of B (optimizer step s)".
  std::string where(ebm::Index n, ebm::Index k, long epoch) const {
    const ebm::Minibatches batches(n, config_.data.batch_size, config_.data.seed, std::uint64_t(epoch));
    for (ebm::Index b = 0; b < batches.size(); ++b)
      for (ebm::Index i : batches[b])
        if (i == k)
          return "epoch " + std::to_string(epoch + 1) + ", minibatch " + std::to_string(b + 1) + " of " +
                 std::to_string(batches.size()) + " (optimizer step " +
                 std::to_string(epoch * batches.size() + b + 1) + ")";
    return "?";
  }

  fs::path dir_;
  ebm::test::RunSettings config_;
};

TEST_F(Faults, NaNPixelIsRefusedBeforeTrainingNamingTheExample) {
  auto data = prototypes(40);
  data.images(3, 17) = std::numeric_limits<float>::quiet_NaN();
  try {
    train(data, 1, Scripted{});
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("the training set: pixel 3 of example 17 is nan"), std::string::npos)
        << e.what();
  }
  data.images(3, 17) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(train(data, 1, Scripted{}), ebm::DataError);
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(dir_ / "metrics.csv"));
}

TEST_F(Faults, EmptyOrMismatchedDatasetsAreRefused) {
  ebm::LabelledImages<float> empty;
  empty.images.resize(20, 0);
  try {
    train(empty, 1, Scripted{});
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("the training set is empty"), std::string::npos) << e.what();
  }
  auto wide = prototypes(20);
  wide.images.conservativeResize(21, Eigen::NoChange);
  wide.images.row(20).setZero();
  try {
    train(wide, 1, Scripted{});
    FAIL();
  } catch (const ebm::DimensionMismatch& e) {
    EXPECT_NE(std::string(e.what()).find("the training set has 21 pixels per example but the model has 20 inputs"),
              std::string::npos)
        << e.what();
  }
  auto bad_label = prototypes(20);
  bad_label.labels[4] = 10;
  EXPECT_THROW(train(bad_label, 1, Scripted{}), ebm::DataError);
}

TEST_F(Faults, NonFiniteGradientStopsAtItsStepAndKeepsTheLastCheckpoint) {
  auto data = prototypes(40);
  train(data, 1, Scripted{});  // epoch 1, clean
  const std::string checkpoint = bytes_of(dir_ / "checkpoint.bin"), metrics = bytes_of(dir_ / "metrics.csv");
  data.images(0, 23) = kNanMarker;  // in epoch 2, example 23's gradient is NaN
  expect_fault([&] { train(data, 3, Scripted{}); }, {where(40, 23, 1) + ": the gradient estimate of step", "is not finite"});
  EXPECT_EQ(bytes_of(dir_ / "checkpoint.bin"), checkpoint);
  EXPECT_EQ(bytes_of(dir_ / "metrics.csv"), metrics);
  EXPECT_EQ(ebm::read_checkpoint<float>(dir_ / "checkpoint.bin").epoch, 1);
}

TEST_F(Faults, DivergenceNamesTheTrainingExample) {
  auto data = prototypes(40);
  data.images(0, 31) = kDivergeMarker;
  expect_fault([&] { train(data, 2, Scripted{}); },
               {where(40, 31, 0), "diverged at step 3", "layer 1, unit 4", "is training example 31)"});
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint.bin"));  // it failed in epoch 1: nothing to keep, nothing written
}

TEST_F(Faults, DivergingLearningRateKeepsTheLastGoodCheckpoint) {
  const auto data = prototypes(40);
  config_.optimizer.learning_rate = 0.05;
  ebm::EquilibriumProp<float> ep(config_.ep_options());
  train(data, 1, ep);
  const std::string checkpoint = bytes_of(dir_ / "checkpoint.bin"), metrics = bytes_of(dir_ / "metrics.csv");
  config_.optimizer.learning_rate = 1e38;  // the first update overflows float
  // The first update sends the weights far beyond optimizer.divergence_bound (a hard-sigmoid
  // network would otherwise train on for ever with finite, meaningless weights).
  expect_fault([&] { train(data, 3, ep); },
               {"epoch 2, minibatch 1 of 4 (optimizer step 5): training diverged: the optimizer step made parameter W",
                "beyond optimizer.divergence_bound = 1e+08 (lower optimizer.learning_rate)"});
  EXPECT_EQ(bytes_of(dir_ / "checkpoint.bin"), checkpoint);
  EXPECT_EQ(bytes_of(dir_ / "metrics.csv"), metrics);
  const auto c = ebm::read_checkpoint<float>(dir_ / "checkpoint.bin");
  EXPECT_EQ(c.epoch, 1);
  EXPECT_TRUE(c.params.allFinite());
}

TEST_F(Faults, UnconvergedRelaxationsWarnByDefaultAndFailWhenAsked) {
  const auto data = prototypes(40);
  config_.relax_free.grad_tol = 1e-12;  // out of reach in 2 steps
  config_.relax_free.max_steps = 2;
  config_.relax_nudged.grad_tol = 0;  // a fixed budget: never counted
  ebm::EquilibriumProp<float> ep(config_.ep_options());
  const auto metrics = train(data, 1, ep);
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].batches, 4);
  EXPECT_EQ(metrics[0].free_unconverged, 4);
  EXPECT_EQ(metrics[0].nudged_unconverged, 0);
  EXPECT_NE(metrics[0].brief().find("warning: relaxations missed their grad_tol in 4 free / 0 nudged phases of 4"),
            std::string::npos)
      << metrics[0].brief();
  EXPECT_NE(bytes_of(dir_ / "metrics.csv").find(",4,0\n"), std::string::npos);
  fs::remove_all(dir_);
  config_.on_unconverged = ebm::OnUnconverged::fail;
  expect_fault([&] { train(data, 1, ep); },
               {"epoch 1, minibatch 1 of 4 (optimizer step 1): the free relaxation did not converge: it stopped on its "
                "step budget (relax.free.max_steps) with max |dF/ds| = ",
                "above relax.free.grad_tol = 1e-12"});
  // With a tolerance it reaches, nothing is counted.
  fs::remove_all(dir_);
  config_.relax_free.grad_tol = 1e-4;
  config_.relax_free.max_steps = 200;
  config_.on_unconverged = ebm::OnUnconverged::warn;
  EXPECT_EQ(train(data, 1, ebm::EquilibriumProp<float>(config_.ep_options()))[0].free_unconverged, 0);
}

TEST_F(Faults, NonFiniteParametersAreNamedByBlockAndPosition) {
  ebm::LayeredHopfield<float> net({3, 4, 2});
  ebm::Vector<float> p = ebm::Vector<float>::Zero(net.params().size());
  EXPECT_EQ(ebm::describe_non_finite(p, net.param_blocks()), "");
  const ebm::ParamBlock& w2 = net.param_blocks()[1];
  ASSERT_EQ(w2.name, "W2");
  p[w2.offset + 2 * w2.rows + 1] = -std::numeric_limits<float>::infinity();  // row 1, column 2
  EXPECT_EQ(ebm::describe_non_finite(p, net.param_blocks()), "W2[1, 2] = -inf");
  p[w2.offset + 2 * w2.rows + 1] = 0;
  const ebm::ParamBlock& b1 = net.param_blocks()[2];
  ASSERT_EQ(b1.name, "b1");
  p[b1.offset + 3] = 2e9f;
  EXPECT_EQ(ebm::describe_non_finite(p, net.param_blocks()), "");
  EXPECT_EQ(ebm::describe_non_finite(p, net.param_blocks(), 1e8), "b1[3] = 2e+09");
}

TEST_F(Faults, StaleTemporariesAreRemovedAndACorruptMetricsFileIsNamed) {
  const auto data = prototypes(20);
  fs::create_directories(dir_);
  std::ofstream(dir_ / ".checkpoint.bin.tmp.a1b2c3") << "half a checkpoint";
  std::ofstream(dir_ / ".metrics.csv.tmp.zzzzzz") << "half a row";
  std::ofstream(dir_ / ".unrelated.tmp.abcdef") << "not ours";
  train(data, 1, Scripted{});
  EXPECT_FALSE(fs::exists(dir_ / ".checkpoint.bin.tmp.a1b2c3"));
  EXPECT_FALSE(fs::exists(dir_ / ".metrics.csv.tmp.zzzzzz"));
  EXPECT_TRUE(fs::exists(dir_ / ".unrelated.tmp.abcdef"));
  std::ofstream(dir_ / "metrics.csv", std::ios::app) << "garbage,1,2\n";
  try {
    train(data, 2, Scripted{});
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.csv: line 3 does not start with an epoch number: 'garbage,1,2'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
