// The main job's configuration (configs/fashion_ep.toml) learns: one epoch on the first 5000
// Fashion-MNIST training images reaches a stated test accuracy on every one of three seeds.
// It reads the config file itself, so a change to the shipped defaults that stops them
// learning fails here, whatever the change.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/fashion_mnist.hpp"
#include "data/split.hpp"
#include "learning/equilibrium_prop.hpp"
#include "models/layered_hopfield.hpp"
#include "training/config.hpp"
#include "training/trainer.hpp"

namespace {

/// Test accuracy after training `c` as the ebm tool does (same data cut, init, options).
double train_like_the_cli(const ebm::TrainConfig& c) {
  auto train = ebm::load_fashion_mnist<float>(c.data.dir, "train");
  auto test = ebm::load_fashion_mnist<float>(c.data.dir, "t10k");
  ebm::keep_head(train, c.data.train_size);
  auto split = ebm::split_validation(std::move(train), c.data.validation_size, c.data.seed);
  ebm::keep_head(test, c.data.test_size);
  ebm::LayeredHopfield<float> net(c.model.sizes, c.model.activation);
  ebm::init_model(net, c.model);
  ebm::Optimizer<float> opt(c.optimizer, net.param_blocks(), net.params().size());
  ebm::EquilibriumProp<float> ep(c.ep_options());
  ebm::TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  o.nudged_grad_tol = c.relax_nudged.grad_tol;
  o.on_unconverged = c.on_unconverged;
  ebm::Trainer trainer(net, ep, opt, o);
  const auto metrics = trainer.run(split.train, nullptr, &test);
  std::cout << "  seed " << c.data.seed << ": " << metrics.back().brief() << "\n";
  return metrics.back().test_accuracy;
}

TEST(DefaultConfig, MainJobLearnsAFashionMnistSubsetOnEverySeed) {
  const ebm::TrainConfig main_job = ebm::read_config(std::filesystem::path(EBM_SOURCE_DIR) / "configs/fashion_ep.toml");
  for (std::uint64_t seed : {1, 2, 3}) {
    ebm::TrainConfig c = main_job;
    c.data.seed = seed;
    c.model.init_seed = seed;
    c.data.train_size = 5000;
    c.data.test_size = 2000;
    c.data.epochs = 1;
    c.data.eval_train_size = 0;
    c.output.checkpoint = false;
    // Stated target: > 75% on each seed. Measured (Release, the config of this commit): 79.60%,
    // 79.90%, 79.90% on seeds 1, 2, 3 (79.65%, 79.85%, 79.65% with relax.free.grad_tol = 0).
    // The same run with init = "glorot", gains 1 (the former default) gives 43.9%, 35.3%, 54.2%,
    // and the former main config (SGD 0.1/0.05, β = 0.5, Glorot) 35.1%, 34.5%, 27.0%: the
    // threshold sits 4.6 points under the worst seed and far above what a configuration that
    // does not learn in one epoch reaches.
    EXPECT_GT(train_like_the_cli(c), 0.75) << "seed " << seed;
  }
}

}  // namespace
