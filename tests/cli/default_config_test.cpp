// The main job's configuration (configs/fashion_ep.toml) learns: one epoch on the first 5000
// Fashion-MNIST training images, trained exactly as `ebm train` does (the registry's train
// command on the config file), reaches a stated test accuracy on every one of three seeds.
// It reads the config file itself, so a change to the shipped defaults that stops them learning
// fails here, whatever the change.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/tool.hpp"

namespace fs = std::filesystem;

namespace {

/// The last row's test accuracy in a metrics.csv.
double last_test_accuracy(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::string header, line, last;
  std::getline(in, header);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  // Columns: epoch,step,loss,train_accuracy,eval_train_accuracy,validation_accuracy,test_accuracy,…
  std::stringstream row(last);
  std::string cell;
  for (int column = 0; column <= 6; ++column) std::getline(row, cell, ',');
  return std::stod(cell);
}

TEST(DefaultConfig, MainJobLearnsAFashionMnistSubsetOnEverySeed) {
  ebm::cli::register_builtins();
  const fs::path out = fs::temp_directory_path() / ("ebm_default_config_" + std::to_string(::getpid()));
  for (std::uint64_t seed : {1, 2, 3}) {
    const std::string s = std::to_string(seed);
    const ebm::cli::RunConfig c = ebm::cli::build_config(
        std::string(EBM_SOURCE_DIR) + "/configs/fashion_ep.toml",
        {"data.seed=" + s, "model.init_seed=" + s, "data.train_size=5000", "data.test_size=2000", "data.epochs=1",
         "data.eval_train_size=100", "data.validation_size=0", "output.checkpoint=false",
         "output.dir=\"" + out.string() + "\""});
    fs::remove_all(out);
    ASSERT_EQ(ebm::cli::Registry::instance().model(c.model.kind).train(c, {}), 0);
    // Stated target: > 76% on each seed. Measured (Release, the config of this commit, with
    // Polyak averaging): 81.30%, 80.35%, 79.50% on seeds 1, 2, 3 (79.60%, 79.90%, 79.90% with the
    // last weights instead of the average). The same run with init = "glorot", gains 1 (the
    // former default) gives 43.9%, 35.3%, 54.2%, and the former main config (SGD 0.1/0.05,
    // β = 0.5, Glorot) 35.1%, 34.5%, 27.0%: the threshold sits 3.5 points under the worst seed
    // and far above what a configuration that does not learn in one epoch reaches.
    EXPECT_GT(last_test_accuracy(out / "metrics.csv"), 0.76) << "seed " << seed;
  }
  fs::remove_all(out);
}

}  // namespace
