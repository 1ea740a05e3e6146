#pragma once
/// \file
/// The commands `train`, `relax` and `gradcheck` for one model kind, scalar type and (for train)
/// learning rule: templates that cli/registry.hpp instantiates when a model kind is registered.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/config.hpp"
#include "core/cost.hpp"
#include "core/system.hpp"
#include "data/fashion_mnist.hpp"
#include "data/split.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "solvers/phase.hpp"
#include "solvers/trace.hpp"
#include "training/checkpoint.hpp"
#include "training/collective.hpp"
#include "training/trainer.hpp"

namespace ebm::cli {

namespace fs = std::filesystem;

/// The training, validation and test sets a config names, cut as it says, and the number of
/// classes their labels use.
template <class T>
struct Datasets {
  LabelledImages<T> train, validation, test;
  int classes = 0;
};

inline std::string train_images_name(const RunConfig& c) {
  return c.data.train_images.empty() ? c.data.dir + "/train-images-idx3-ubyte" : c.data.train_images;
}

template <class T>
Datasets<T> load_data(const RunConfig& c) {
  Datasets<T> d;
  LabelledImages<T> train, test;
  if (!c.data.train_images.empty()) {
    train = load_idx_dataset<T>(c.data.train_images, c.data.train_labels);
    test = load_idx_dataset<T>(c.data.test_images, c.data.test_labels);
  } else {
    train = load_fashion_mnist<T>(c.data.dir, "train");
    test = load_fashion_mnist<T>(c.data.dir, "t10k");
  }
  require<DataError>(train.size() > 0, train_images_name(c), ": holds no examples; nothing to train on");
  for (int label : train.labels) d.classes = std::max(d.classes, label + 1);
  // In place: the peak is the data set once plus its validation part (see the memory figure in
  // the README's benchmarks).
  keep_head(train, c.data.train_size);
  auto split = split_validation(std::move(train), c.data.validation_size, c.data.seed);
  d.train = std::move(split.train);
  d.validation = std::move(split.validation);
  keep_head(test, c.data.test_size);
  d.test = std::move(test);
  return d;
}

/// Checks that a model fits the data: its inputs are the pixels, its output units the classes.
template <class M>
void require_fits(const M& model, Index pixels, int classes, std::string_view kind) {
  require<InvalidOptions>(model.input_size() == pixels, "model (kind ", kind, ") has ", model.input_size(),
                          " inputs but the images have ", pixels, " pixels");
  require<InvalidOptions>(classes <= 0 || model.output_block().size == classes, "model (kind ", kind, ") has ",
                          model.output_block().size, " output units but the labels have ", classes,
                          " classes: the output layer needs one unit per class");
}

/// The model a command works on: a checkpoint's (its kind, options and parameters, in T), or a
/// fresh one from the config.
template <class Kind, class T>
typename Kind::template Model<T> load_or_fresh(const RunConfig& c, const std::string& checkpoint) {
  if (checkpoint.empty()) return Kind::template make<T>(model_options<Kind>(c.model_options));
  auto load = [&](auto tag) {
    using S = decltype(tag);
    const Checkpoint<S> ck = read_checkpoint<S>(checkpoint);
    require<DataError>(ck.model_kind == Kind::name, checkpoint, ": field 'model_kind' is ", ck.model_kind, ", not ",
                       Kind::name);
    auto net = Kind::template make<T>(model_options<Kind>(c.model_options));
    require_same_blocks(ck.blocks, net.param_blocks(), checkpoint);
    net.params() = ck.params.template cast<T>();
    return net;
  };
  if (checkpoint_scalar_size(checkpoint) == 4) return load(float{});
  return load(double{});
}

/// A one-line progress bar, redrawn in place (only on a terminal).
class ProgressBar : public TrainingCallback {
 public:
  void on_batch(Index done, Index total, double loss, double accuracy) override {
    const int width = 30;
    const int filled = int(double(width) * double(done + 1) / double(total));
    std::fprintf(stdout, "\r  [%.*s%*s] %ld/%ld  loss %.4f  acc %.2f%%", filled, "##############################",
                 width - filled, "", long(done + 1), long(total), loss, 100 * accuracy);
    std::fflush(stdout);
  }
};

/// `ebm train` with model kind Kind in precision T and learning rule Rule.
template <class Kind, class Rule, class T>
int train_command(const RunConfig& c, const CommandArgs& args) {
  using Model = typename Kind::template Model<T>;
  const Datasets<T> data = load_data<T>(c);
  Model net = Kind::template make<T>(model_options<Kind>(c.model_options));
  require_fits(net, data.train.images.rows(), data.classes, Kind::name);
  typename Rule::Options rule_options;
  {
    TableReader r(&c.estimator_options, "estimator.");
    r.read(rule_options);
  }
  const auto estimator = Rule::template make<Model>(rule_options, c, net, AnyCost<T>{c.estimator.cost});
  using E = std::remove_cvref_t<decltype(estimator)>;
  Optimizer<T> optimizer(c.optimizer, net.param_blocks(), net.params().size());
  TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.augment = augmentation(c.data, data.train);
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  o.out_dir = c.output.dir;
  o.checkpoint = c.output.checkpoint;
  o.config_text = config_to_string(c);
  o.model_kind = std::string(Kind::name);
  o.model_options = c.model_text();
  constexpr bool fixed_nudged = requires { Rule::fixed_nudged_steps; };
  o.nudged_grad_tol = fixed_nudged ? 0.0 : c.relax_nudged.grad_tol;
  o.on_unconverged = c.relax.on_unconverged;
  o.group = args.group;
  // Processes other than the first say nothing: they print the same lines (an error on any of
  // them is agreed on and thrown by all, and rank 0 reports it; see cli/mpi.cpp).
  const bool quiet = args.group && args.group->rank() != 0;
  std::ostringstream silenced;
  std::streambuf* const cout_buffer = quiet ? std::cout.rdbuf(silenced.rdbuf()) : nullptr;
  struct Restore {
    std::streambuf* buffer;
    ~Restore() {
      if (buffer) std::cout.rdbuf(buffer);
    }
  } restore{cout_buffer};
  Trainer<Model, E, AnyCost<T>> trainer(net, estimator, optimizer, o, AnyCost<T>{c.estimator.cost});
  if (!args.resume.empty()) {
    trainer.resume(args.resume);
    std::cout << "resumed from " << args.resume << " after epoch " << trainer.epoch() << '\n';
  }
  const bool tty = !quiet && args.progress && ::isatty(STDOUT_FILENO);
  if (tty) trainer.add_callback(std::make_shared<ProgressBar>());
  if (c.schedule.kind != ScheduleKind::constant)
    trainer.add_callback(std::make_shared<LearningRateSchedule>(
        c.schedule, c.data.epochs, [&optimizer](double factor) { optimizer.set_rate_factor(factor); }));
  std::shared_ptr<EarlyStopping> early;
  if (c.early_stopping.patience > 0) {
    early = std::make_shared<EarlyStopping>(c.early_stopping.patience, c.early_stopping.min_delta);
    trainer.add_callback(early);
  }
  for (const auto& callback : args.callbacks) trainer.add_callback(callback);
  std::cout << "training " << Kind::name << " by " << Rule::name << " on " << data.train.size() << " examples ("
            << data.validation.size() << " validation, " << data.test.size() << " test, " << data.classes
            << " classes), results in " << c.output.dir << '\n';
  // MALA's accept/reject weighs an energy difference against T: in float, the energy of a large
  // network carries rounding errors of that order at small T, and the pair of an EP estimate
  // decouples on them (measured in the README, "Langevin phases").
  if constexpr (std::same_as<T, float>)
    if (c.relax_free.method == Method::mala || c.relax_nudged.method == Method::mala)
      std::cout << "warning: MALA in float: its accept/reject compares energy differences with the temperature, "
                   "and float rounding of a large network's energy can be as large at small T (784-512-10 at "
                   "T = 1e-3: 53.7% against 58.8% in double); set model.scalar = \"double\" for MALA\n";
  if (args.group)
    std::cout << "processes: " << args.group->size() << ", each relaxing its share of the "
              << (c.data.batch_size + c.parallel.chunk - 1) / c.parallel.chunk << " chunks of a minibatch\n";
  const auto steps_before = trainer.step();
  const auto bytes_before = args.group ? args.group->bytes_received() : 0;
  const auto wall_before = std::chrono::steady_clock::now();
  try {
    trainer.run(data.train, &data.validation, &data.test, [&](const EpochMetrics& m) {
      if (tty) std::cout << '\r' << std::string(80, ' ') << '\r';
      std::cout << m.brief() << '\n' << std::flush;
    });
    if (early && trainer.epoch() < c.data.epochs)
      std::cout << "stopped early after epoch " << trainer.epoch() << ": no better validation accuracy for "
                << c.early_stopping.patience << " epochs (best " << 100 * early->best_accuracy() << "% at epoch "
                << early->best_epoch() << ")\n";
    if (args.group && trainer.step() > steps_before) {
      const double steps = double(trainer.step() - steps_before);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
      std::cout << "processes: " << args.group->size() << ", " << steps / seconds << " steps/s ("
                << steps * double(c.data.batch_size) / seconds << " examples/s, evaluations included), "
                << double(args.group->bytes_received() - bytes_before) / steps
                << " bytes received per step by rank 0 (evaluations included)\n";
    }
  } catch (const TrainingFault& e) {
    if (tty) std::cout << '\n';
    std::cout << std::flush;
    if (args.rethrow_faults) throw;
    std::cerr << "error: training stopped: " << e.what() << '\n';
    if (o.checkpoint && fs::exists(trainer.checkpoint_path()))
      std::cerr << "the last good checkpoint is " << trainer.checkpoint_path().string() << " (epoch "
                << read_checkpoint<T>(trainer.checkpoint_path()).epoch << "), with "
                << trainer.metrics_path().string() << "; continue with --resume after changing what the message says\n";
    else
      std::cerr << "no checkpoint was written\n";
    return 2;
  }
  return 0;
}

/// The first `n` test examples (double: relax and gradcheck are for inspection and verification).
inline LabelledImages<double> some_examples(const RunConfig& c, Index n) {
  LabelledImages<double> test = c.data.test_images.empty()
                                    ? load_fashion_mnist<double>(c.data.dir, "t10k")
                                    : load_idx_dataset<double>(c.data.test_images, c.data.test_labels);
  return head(test, n);
}

/// `ebm relax`: the free and nudged phases (any method, Langevin included) on a few test
/// examples, every step recorded to trace.csv.
template <class Kind>
int relax_command(const RunConfig& c, const CommandArgs& args) {
  const auto net = load_or_fresh<Kind, double>(c, args.checkpoint);
  using Model = std::remove_cvref_t<decltype(net)>;
  const auto data = some_examples(c, args.examples);
  require<InvalidOptions>(data.images.rows() == net.input_size(), "the network has ", net.input_size(),
                          " inputs but the images have ", data.images.rows(), " pixels");
  const Matrix<double> target = one_hot<double>(data.labels, net.output_block().size);
  Matrix<double> s = Matrix<double>::Zero(net.state_size(), data.size());
  if constexpr (!EnergyModel<Model>) {
    // A dynamics without an energy (xie_seung): its own free phase, no energy trace to record.
    const RelaxSummary free = net.relax_free(data.images, s, c.relax_free);
    std::cout << "free:   " << free.brief_report() << " (model.kind = " << Kind::name
              << " has no energy: no trace is recorded)\n";
    return 0;
  } else {
    const AnyCost<double> cost{c.estimator.cost};
    // Langevin phases run langevin.chains chains per example: the trace's energy is the mean over
    // all of them, energy_std their spread, acceptance MALA's running acceptance rate.
    const bool sampled = is_langevin(c.relax_free.method) || is_langevin(c.relax_nudged.method);
    const Index chains = sampled ? Index(c.langevin.chains) : 1;
    const Matrix<double> images = ebm::detail::repeat_columns<double>(data.images, chains);
    const Matrix<double> targets = ebm::detail::repeat_columns<double>(target, chains);
    s = Matrix<double>::Zero(net.state_size(), images.cols());
    TraceRecorder<double> trace(TraceSchedule::every_step(), "free");
    FreeSystem free(net, images);
    const RelaxSummary fs_ = run_phase(free, s, c.relax_free, 0, c.data.seed, trace);
    if (chains > 1) std::cout << "langevin: " << chains << " chains per example, " << images.cols() << " chains\n";
    std::cout << "free:   " << fs_.brief_report() << '\n';
    trace.set_phase("nudged");
    // The rule's β where it has one, else EP's default.
    double beta = EPOptions{}.beta;
    if (const auto* b = c.estimator_options.get("beta")) beta = b->value_or(beta);
    NudgedSystem nudged(net, images, targets, beta, cost);
    const RelaxSummary ns = run_phase(nudged, s, c.relax_nudged, 0, c.data.seed + 1, trace);
    std::cout << "nudged: " << ns.brief_report() << " (beta = " << beta << ", cost " << enum_name(c.estimator.cost)
              << ")\n";
    fs::create_directories(args.out);
    trace.write_csv(fs::path(args.out) / "trace.csv");
    std::cout << "trace (" << trace.rows().size() << " rows) written to " << (fs::path(args.out) / "trace.csv").string()
              << '\n';
    return 0;
  }
}

}  // namespace ebm::cli
