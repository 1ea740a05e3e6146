// ebm: train, relax, gradient-check and plot energy-based networks without writing C++.
//
//   ebm train --config run.toml --set data.epochs=3 --out runs/a
//   ebm relax --checkpoint runs/a/checkpoint.bin --examples 8 --out runs/a
//   ebm gradcheck --set model.activation=logistic --set model.sizes=[784,16,10] --out runs/a
//   ebm plot runs/a
//   ebm inspect runs/a/checkpoint.bin
//
// Exit status: 0 done; 1 an error in the input (config, data, checkpoint) or the environment;
// 2 training stopped on a numerical fault (divergence, non-finite gradient), the last good
// checkpoint and metrics.csv left as they were.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/system.hpp"
#include "data/fashion_mnist.hpp"
#include "data/split.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/gradient_checker.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"
#include "solvers/trace.hpp"
#include "training/checkpoint.hpp"
#include "training/config.hpp"
#include "training/trainer.hpp"

#ifndef EBM_SOURCE_DIR
#define EBM_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace {

/// The training and test sets a config names, cut as it says.
template <class T>
struct Datasets {
  ebm::LabelledImages<T> train, validation, test;
};

template <class T>
Datasets<T> load_data(const ebm::TrainConfig& c) {
  Datasets<T> d;
  ebm::LabelledImages<T> train, test;
  if (!c.data.train_images.empty()) {
    train = ebm::load_idx_dataset<T>(c.data.train_images, c.data.train_labels);
    test = ebm::load_idx_dataset<T>(c.data.test_images, c.data.test_labels);
  } else {
    train = ebm::load_fashion_mnist<T>(c.data.dir, "train");
    test = ebm::load_fashion_mnist<T>(c.data.dir, "t10k");
  }
  ebm::require<ebm::DataError>(train.size() > 0,
                               c.data.train_images.empty() ? c.data.dir + "/train-images-idx3-ubyte"
                                                           : c.data.train_images,
                               ": holds no examples; nothing to train on");
  ebm::require<ebm::InvalidOptions>(train.images.rows() == c.model.sizes.front(), "model.sizes[0] = ",
                                    c.model.sizes.front(), " but the images have ", train.images.rows(), " pixels");
  // In place: the peak is the data set once plus its validation part (see the memory figure in
  // the README's benchmarks).
  ebm::keep_head(train, c.data.train_size);
  auto split = ebm::split_validation(std::move(train), c.data.validation_size, c.data.seed);
  d.train = std::move(split.train);
  d.validation = std::move(split.validation);
  ebm::keep_head(test, c.data.test_size);
  d.test = std::move(test);
  return d;
}

template <class T>
ebm::LayeredHopfield<T> make_model(const ebm::TrainConfig& c) {
  ebm::LayeredHopfield<T> net(c.model.sizes, c.model.activation);
  ebm::init_model(net, c.model);
  return net;
}

/// A one-line progress bar, redrawn in place (only on a terminal).
void progress_bar(ebm::Index done, ebm::Index total, double loss, double accuracy) {
  const int width = 30;
  const int filled = int(double(width) * double(done + 1) / double(total));
  std::fprintf(stdout, "\r  [%.*s%*s] %ld/%ld  loss %.4f  acc %.2f%%", filled, "##############################",
               width - filled, "", long(done + 1), long(total), loss, 100 * accuracy);
  std::fflush(stdout);
}

template <class T, class E, class C>
int train_with(const ebm::TrainConfig& c, const E& estimator, const std::string& resume) {
  const Datasets<T> data = load_data<T>(c);
  auto net = make_model<T>(c);
  ebm::Optimizer<T> optimizer(c.optimizer, net.param_blocks(), net.params().size());
  ebm::TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  o.out_dir = c.output.dir;
  o.checkpoint = c.output.checkpoint;
  o.config_text = ebm::config_to_string(c);
  // Early inference's nudged phase is a fixed number of steps by design, never "unconverged".
  o.nudged_grad_tol = c.estimator.kind == "early_inference" ? 0.0 : c.relax_nudged.grad_tol;
  o.on_unconverged = c.on_unconverged;
  ebm::Trainer<ebm::LayeredHopfield<T>, E, C> trainer(net, estimator, optimizer, o);
  if (!resume.empty()) {
    trainer.resume(resume);
    std::cout << "resumed from " << resume << " after epoch " << trainer.epoch() << '\n';
  }
  const bool tty = ::isatty(STDOUT_FILENO);
  if (tty) trainer.on_batch = progress_bar;
  std::cout << "training " << c.estimator.kind << " on " << data.train.size() << " examples ("
            << data.validation.size() << " validation, " << data.test.size() << " test), results in "
            << c.output.dir << '\n';
  try {
    trainer.run(data.train, &data.validation, &data.test, [&](const ebm::EpochMetrics& m) {
      if (tty) std::cout << '\r' << std::string(80, ' ') << '\r';
      std::cout << m.brief() << '\n' << std::flush;
    });
  } catch (const ebm::TrainingFault& e) {
    if (tty) std::cout << '\n';
    std::cout << std::flush;
    std::cerr << "error: training stopped: " << e.what() << '\n';
    if (o.checkpoint && fs::exists(trainer.checkpoint_path()))
      std::cerr << "the last good checkpoint is " << trainer.checkpoint_path().string() << " (epoch "
                << ebm::read_checkpoint<T>(trainer.checkpoint_path()).epoch << "), with "
                << trainer.metrics_path().string() << "; continue with --resume after changing what the message says\n";
    else
      std::cerr << "no checkpoint was written\n";
    return 2;
  }
  return 0;
}

template <class T, class C>
int train_typed(const ebm::TrainConfig& c, const std::string& resume) {
  if (c.estimator.kind == "ep") return train_with<T, ebm::EquilibriumProp<T, C>, C>(c, ebm::EquilibriumProp<T, C>(c.ep_options()), resume);
  if (c.estimator.kind == "chl")
    return train_with<T, ebm::ContrastiveHebbian<T, C>, C>(c, ebm::ContrastiveHebbian<T, C>(c.chl_options()), resume);
  return train_with<T, ebm::EarlyInference<T, C>, C>(c, ebm::EarlyInference<T, C>(c.early_options()), resume);
}

/// Reads the config file (if any), applies the overrides, validates.
ebm::TrainConfig build_config(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table root;
  if (!path.empty()) root = ebm::parse_toml_file(path);
  for (const std::string& o : overrides) ebm::apply_override(root, o);
  try {
    return ebm::config_from_toml(root);
  } catch (const ebm::InvalidOptions& e) {
    throw ebm::InvalidOptions((path.empty() ? std::string("config") : path) + ": " + e.what());
  }
}

/// The model a subcommand works on: a checkpoint's, or a fresh one from the config.
ebm::LayeredHopfield<double> load_or_fresh(const std::string& checkpoint, const ebm::TrainConfig& c) {
  if (checkpoint.empty()) return make_model<double>(c);
  ebm::LayeredHopfield<double> net({1, 1});
  auto load = [&](auto tag) {
    using T = decltype(tag);
    const auto ck = ebm::read_checkpoint<T>(checkpoint);
    net = ebm::LayeredHopfield<double>(ck.sizes, ck.activation);
    net.params() = ck.params.template cast<double>();
  };
  if (ebm::checkpoint_scalar_size(checkpoint) == 4) load(float{});
  else load(double{});
  return net;
}

ebm::TrainConfig config_of_checkpoint_or(const std::string& checkpoint, const std::string& config,
                                         const std::vector<std::string>& overrides) {
  if (!checkpoint.empty() && config.empty()) {
    // The checkpoint carries its run's config: relax and gradcheck reuse its settings.
    int size = ebm::checkpoint_scalar_size(checkpoint);
    const std::string text = size == 4 ? ebm::read_checkpoint<float>(checkpoint).config
                                       : ebm::read_checkpoint<double>(checkpoint).config;
    toml::table root = text.empty() ? toml::table{} : ebm::parse_toml(text, checkpoint + " (config)");
    for (const std::string& o : overrides) ebm::apply_override(root, o);
    return ebm::config_from_toml(root);
  }
  return build_config(config, overrides);
}

ebm::LabelledImages<double> some_examples(const ebm::TrainConfig& c, ebm::Index n) {
  ebm::LabelledImages<double> test = c.data.test_images.empty()
                                          ? ebm::load_fashion_mnist<double>(c.data.dir, "t10k")
                                          : ebm::load_idx_dataset<double>(c.data.test_images, c.data.test_labels);
  return ebm::head(test, n);
}

int relax_command(const ebm::TrainConfig& c, const std::string& checkpoint, ebm::Index examples,
                  const fs::path& out) {
  const auto net = load_or_fresh(checkpoint, c);
  const auto data = some_examples(c, examples);
  ebm::require<ebm::InvalidOptions>(data.images.rows() == net.input_size(), "the network has ", net.input_size(),
                                    " inputs but the images have ", data.images.rows(), " pixels");
  const ebm::Matrix<double> target = ebm::one_hot<double>(data.labels, net.output_block().size);
  ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), data.size());
  ebm::TraceRecorder<double> trace(ebm::TraceSchedule::every_step(), "free");
  ebm::FreeSystem free(net, data.images);
  const ebm::RelaxSummary fs_ = ebm::relax(free, s, c.relax_free, trace);
  std::cout << "free:   " << fs_.brief_report() << '\n';
  trace.set_phase("nudged");
  ebm::NudgedSystem nudged(net, data.images, target, c.estimator.beta);
  const ebm::RelaxSummary ns = ebm::relax(nudged, s, c.relax_nudged, trace);
  std::cout << "nudged: " << ns.brief_report() << '\n';
  fs::create_directories(out);
  trace.write_csv(out / "trace.csv");
  std::cout << "trace (" << trace.rows().size() << " rows) written to " << (out / "trace.csv").string() << '\n';
  return 0;
}

int gradcheck_command(const ebm::TrainConfig& c, const std::string& checkpoint, ebm::Index examples,
                      const std::vector<double>& betas, const fs::path& out) {
  const auto net = load_or_fresh(checkpoint, c);
  ebm::require<ebm::InvalidOptions>(net.activation().kind() != ebm::Activation::Kind::hard_sigmoid,
                                    "gradcheck compares with the exact implicit gradient, which needs a smooth "
                                    "activation: use --set model.activation=logistic (or tanh)");
  const auto data = some_examples(c, examples);
  const ebm::Matrix<double> target = ebm::one_hot<double>(data.labels, net.output_block().size);
  ebm::ExactGradientOptions exact;
  auto checker = ebm::GradientChecker<double>::against_exact(net, data.images, target, exact);
  // EP's estimate carries the relaxations' residual divided by β: relax both phases tightly.
  ebm::EPOptions ep;
  ep.free = exact.free;
  ep.nudged = exact.free;
  for (ebm::EPVariant v : {ebm::EPVariant::one_sided, ebm::EPVariant::symmetric, ebm::EPVariant::random_sign})
    checker.sweep_estimator("ep_" + std::string(ebm::to_string(v)), "beta", betas, net, data.images, target,
                            [&](double beta) {
                              ebm::EPOptions o = ep;
                              o.beta = beta;
                              o.variant = v;
                              o.seed = c.data.seed;
                              return ebm::EquilibriumProp<double>(o);
                            });
  // Early inference reads the first steps after the nudge: swept in the number of steps.
  checker.sweep_estimator("early_inference", "steps", {3, 6, 12, 24}, net, data.images, target, [&](double steps) {
    ebm::EarlyInferenceOptions o;
    o.free = exact.free;
    o.beta = betas.empty() ? 0.0125 : betas.back();
    o.dt = c.estimator.dt;
    o.steps = long(steps);
    return ebm::EarlyInference<double>(o);
  });
  // CHL descends E(clamped) − E(free), not J: its row shows how far that is from the gradient.
  ebm::CHLOptions chl;
  chl.free = chl.clamped = exact.free;
  checker.check("chl", ebm::ContrastiveHebbian<double>(chl), net, data.images, target);
  std::cout << checker.report().table();
  fs::create_directories(out);
  checker.report().write_csv(out / "gradcheck.csv");
  std::cout << "written to " << (out / "gradcheck.csv").string() << '\n';
  return 0;
}

/// Reads a checkpoint (every field and the CRC checked) and prints what it holds, with a CRC-32 of
/// its parameters: two runs whose checkpoints print the same params_crc32 have the same weights.
int inspect_command(const std::string& path) {
  auto show = [&](auto tag) {
    using T = decltype(tag);
    const ebm::Checkpoint<T> c = ebm::read_checkpoint<T>(path);
    std::cout << "checkpoint " << path << '\n' << "scalar " << (sizeof(T) == 4 ? "float" : "double") << '\n' << "sizes";
    for (ebm::Index n : c.sizes) std::cout << ' ' << n;
    std::cout << '\n' << "activation " << c.activation.name() << '\n'
              << "params " << c.params.size() << '\n'
              << "epoch " << c.epoch << '\n'
              << "step " << c.step << '\n'
              << "seed " << c.seed << '\n';
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x",
                  unsigned(ebm::detail::crc32_of(std::string_view(reinterpret_cast<const char*>(c.params.data()),
                                                                  std::size_t(c.params.size()) * sizeof(T)))));
    std::cout << "params_crc32 " << crc << '\n';
  };
  if (ebm::checkpoint_scalar_size(path) == 4) show(float{});
  else show(double{});
  return 0;
}

int plot_command(const fs::path& run, const std::string& script) {
  // Debian's python3-matplotlib lives with /usr/bin/python3, which a python3 earlier in PATH
  // (pyenv, a virtualenv) may not see: try it first, then whatever python3 PATH gives.
  std::string python;
  bool any_python = false;
  for (const std::string candidate : {"/usr/bin/python3", "python3"}) {
    if (std::system(("command -v " + candidate + " >/dev/null 2>&1").c_str()) != 0) continue;
    any_python = true;
    if (std::system((candidate + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) {
    std::cerr << "error: plot needs " << (any_python ? "matplotlib for python3" : "python3 and matplotlib")
              << ", which is not installed (Debian: apt-get install python3-matplotlib); nothing was plotted\n";
    return 1;
  }
  if (!fs::exists(script)) {
    std::cerr << "error: plotting script " << script << " not found (set --script)\n";
    return 1;
  }
  const std::string command = python + " '" + script + "' '" + run.string() + "'";
  return std::system(command.c_str()) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ebm: train, relax, gradient-check and plot energy-based networks"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  // train
  CLI::App* train = app.add_subcommand("train", "train a layered Hopfield network (EP, CHL or early inference)");
  std::string config_path, resume;
  std::vector<std::string> overrides;
  std::string out_dir;
  long epochs = -1, batch_size = -1, train_size = -1, test_size = -1;
  long long seed = -1;
  int threads = -1;
  double lr = -1;
  std::string estimator, data_dir, scalar;
  train->add_option("-c,--config", config_path, "TOML config file (defaults for everything it leaves out)");
  train->add_option("--set", overrides, "override a config field, e.g. --set relax.free.max_steps=50 (repeatable)");
  train->add_option("-o,--out", out_dir, "output directory (output.dir; default run)");
  train->add_option("--epochs", epochs, "data.epochs (default 1)");
  train->add_option("--batch-size", batch_size, "data.batch_size (default 32)");
  train->add_option("--train-size", train_size, "data.train_size: first n training examples (default 0 = all)");
  train->add_option("--test-size", test_size, "data.test_size (default 0 = all)");
  train->add_option("--seed", seed, "data.seed (default 1)");
  train->add_option("--threads", threads, "parallel.threads (default 0 = all cores)");
  train->add_option("--lr", lr, "optimizer.learning_rate (default 0.05)");
  train->add_option("--estimator", estimator, "estimator.kind: ep, chl or early_inference (default ep)");
  train->add_option("--data", data_dir, "data.dir: Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)");
  train->add_option("--scalar", scalar, "model.scalar: float or double (default float)");
  train->add_option("--resume", resume, "continue the run saved in this checkpoint");

  // relax
  CLI::App* relax = app.add_subcommand("relax", "relax a network on a few examples and write the convergence traces");
  std::string checkpoint, relax_config, relax_out = "run";
  std::vector<std::string> relax_overrides;
  long relax_examples = 8;
  relax->add_option("--checkpoint", checkpoint, "trained network (default: a fresh one from the config)");
  relax->add_option("-c,--config", relax_config, "TOML config (default: the checkpoint's, else the defaults)");
  relax->add_option("--set", relax_overrides, "override a config field (repeatable)");
  relax->add_option("--examples", relax_examples, "test examples to relax")->capture_default_str()->check(CLI::Range(1, 10000));
  relax->add_option("-o,--out", relax_out, "directory for trace.csv")->capture_default_str();

  // gradcheck
  CLI::App* grad = app.add_subcommand("gradcheck", "compare EP, early inference and CHL with the exact gradient, per layer");
  std::string grad_checkpoint, grad_config, grad_out = "run";
  std::vector<std::string> grad_overrides;
  long grad_examples = 4;
  std::vector<double> betas = {0.4, 0.2, 0.1, 0.05};
  grad->add_option("--checkpoint", grad_checkpoint, "trained network (default: a fresh one from the config)");
  grad->add_option("-c,--config", grad_config, "TOML config (default: the checkpoint's, else the defaults)");
  grad->add_option("--set", grad_overrides, "override a config field (repeatable), e.g. --set model.activation=logistic");
  grad->add_option("--examples", grad_examples, "test examples in the batch")->capture_default_str()->check(CLI::Range(1, 1000));
  grad->add_option("--beta", betas, "values of β to sweep")->capture_default_str();
  grad->add_option("-o,--out", grad_out, "directory for gradcheck.csv")->capture_default_str();

  // plot
  CLI::App* plot = app.add_subcommand("plot", "turn a run's metrics.csv, trace.csv and gradcheck.csv into PNG plots");
  std::string run_dir = "run";
  std::string script = std::string(EBM_SOURCE_DIR) + "/scripts/plot.py";
  plot->add_option("run", run_dir, "run directory")->capture_default_str();
  plot->add_option("--script", script, "the plotting script (python3 + matplotlib)")->capture_default_str();

  // inspect
  CLI::App* inspect = app.add_subcommand("inspect", "check a checkpoint (every field and its CRC) and print what it holds");
  std::string inspect_path;
  inspect->add_option("checkpoint", inspect_path, "checkpoint file")->required();

  CLI11_PARSE(app, argc, argv);

  try {
    if (*train) {
      auto add = [&](const char* key, auto value, bool given) {
        if (given) overrides.push_back(std::string(key) + "=" + value);
      };
      add("output.dir", "\"" + out_dir + "\"", !out_dir.empty());
      add("data.epochs", std::to_string(epochs), epochs >= 0 || train->count("--epochs"));
      add("data.batch_size", std::to_string(batch_size), train->count("--batch-size") > 0);
      add("data.train_size", std::to_string(train_size), train->count("--train-size") > 0);
      add("data.test_size", std::to_string(test_size), train->count("--test-size") > 0);
      add("data.seed", std::to_string(seed), train->count("--seed") > 0);
      add("parallel.threads", std::to_string(threads), train->count("--threads") > 0);
      add("optimizer.learning_rate", std::to_string(lr), train->count("--lr") > 0);
      add("estimator.kind", "\"" + estimator + "\"", !estimator.empty());
      add("data.dir", "\"" + data_dir + "\"", !data_dir.empty());
      add("model.scalar", "\"" + scalar + "\"", !scalar.empty());
      const ebm::TrainConfig c = build_config(config_path, overrides);
      fs::create_directories(c.output.dir);
      ebm::remove_stale_temporaries(fs::path(c.output.dir) / "config.toml");
      ebm::write_file_atomically(fs::path(c.output.dir) / "config.toml", ebm::config_to_string(c));
      const bool ce = c.estimator.cost == "cross_entropy";
      if (c.model.scalar == "double")
        return ce ? train_typed<double, ebm::CrossEntropy<double>>(c, resume)
                  : train_typed<double, ebm::SquaredError<double>>(c, resume);
      return ce ? train_typed<float, ebm::CrossEntropy<float>>(c, resume)
                : train_typed<float, ebm::SquaredError<float>>(c, resume);
    }
    if (*relax)
      return relax_command(config_of_checkpoint_or(checkpoint, relax_config, relax_overrides), checkpoint,
                           relax_examples, relax_out);
    if (*grad)
      return gradcheck_command(config_of_checkpoint_or(grad_checkpoint, grad_config, grad_overrides),
                               grad_checkpoint, grad_examples, betas, grad_out);
    if (*plot) return plot_command(run_dir, script);
    if (*inspect) return inspect_command(inspect_path);
  } catch (const ebm::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
