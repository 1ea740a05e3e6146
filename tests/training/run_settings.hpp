#pragma once
// The settings a library-level training test needs, in one bag: the model, data, phases, rule,
// optimizer and parallel options, with the tool's training defaults. The tool reads the same
// options from its config file (cli/config.hpp); the library tests do not depend on the tool.
#include <cstdint>
#include <vector>

#include "core/activation.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "solvers/parallel.hpp"
#include "training/faults.hpp"
#include "training/optimizer.hpp"
#include "training/trainer.hpp"

namespace ebm::test {

struct RunSettings {
  struct {
    std::vector<Index> sizes = {784, 64, 10};
    Activation activation = Activation::Kind::hard_sigmoid;
    std::uint64_t init_seed = 1;
    double init_gain = 1.0;
  } model;
  struct {
    Index batch_size = 32;
    long epochs = 1;
    Index eval_train_size = 1000;
    std::uint64_t seed = 1;
  } data;
  RelaxOptions relax_free = default_training_relax(100);
  RelaxOptions relax_nudged = default_training_relax(50);
  OnUnconverged on_unconverged = OnUnconverged::warn;
  struct {
    EPVariant variant = EPVariant::one_sided;
    double beta = 0.5;
  } estimator;
  OptimizerOptions optimizer;
  ParallelOptions parallel;

  EPOptions ep_options() const {
    EPOptions o;
    o.free = relax_free;
    o.nudged = relax_nudged;
    o.beta = estimator.beta;
    o.variant = estimator.variant;
    o.seed = data.seed;
    return o;
  }
  CHLOptions chl_options() const {
    CHLOptions o;
    o.free = relax_free;
    o.clamped = relax_nudged;
    return o;
  }
  EarlyInferenceOptions early_options() const {
    EarlyInferenceOptions o;
    o.free = relax_free;
    o.beta = estimator.beta;
    return o;
  }
};

}  // namespace ebm::test
