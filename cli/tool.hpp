#pragma once
/// \file
/// The `ebm` tool as a function: ebm::cli::run(argc, argv) parses the command line and runs a
/// subcommand on whatever the registry holds. cli/main.cpp registers the built-in kinds and
/// calls it; a program that registers its own model kind first gets the whole tool for it
/// (examples/custom_model.cpp).
///
/// Exit status: 0 done; 1 an error in the input (config, data, checkpoint) or the environment;
/// 2 training stopped on a numerical fault (divergence, non-finite gradient), the last good
/// checkpoint and metrics.csv left as they were; 3 `ebm gradcheck` ran but a check failed (the
/// failing rows are named at the end of its output and in gradcheck.json).

#include <CLI/CLI.hpp>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/config.hpp"
#include "cli/registry.hpp"
#include "models/layered_hopfield.hpp"
#include "training/checkpoint.hpp"

extern char** environ;

namespace ebm::cli {

/// The built-in model kinds (the rules come with them). Calling it again does nothing.
inline void register_builtins(Registry& registry = Registry::instance()) {
  if (!registry.has_model(LayeredHopfieldKind::name)) register_model<LayeredHopfieldKind>(registry);
}

/// Reads the config file (if any), applies the overrides, validates.
inline RunConfig build_config(const std::string& path, const std::vector<std::string>& overrides,
                              bool for_training = true) {
  toml::table root;
  if (!path.empty()) root = parse_toml_file(path);
  for (const std::string& o : overrides) apply_override(root, o);
  try {
    return config_from_toml(root, Registry::instance(), for_training);
  } catch (const InvalidOptions& e) {
    throw InvalidOptions((path.empty() ? std::string("config") : path) + ": " + e.what());
  }
}

/// The config of a command on a checkpoint: the checkpoint's run config (unless a file is given)
/// with the overrides; the model is the checkpoint's own whatever the config says.
inline RunConfig config_of_checkpoint_or(const std::string& checkpoint, const std::string& config,
                                         const std::vector<std::string>& overrides) {
  if (checkpoint.empty() || !config.empty()) return build_config(config, overrides, false);
  auto saved = [&](auto tag) {
    const auto c = read_checkpoint<decltype(tag)>(checkpoint);
    return std::pair{c.config, c.model_options};
  };
  const auto [text, model] = checkpoint_scalar_size(checkpoint) == 4 ? saved(float{}) : saved(double{});
  toml::table root = text.empty() ? toml::table{} : parse_toml(text, checkpoint + " (config)");
  if (!model.empty()) root.insert_or_assign("model", parse_toml(model, checkpoint + " (model)"));
  if (auto* m = root["model"].as_table()) m->erase("scalar");  // relax and gradcheck run in double
  for (const std::string& o : overrides) apply_override(root, o);
  try {
    return config_from_toml(root, Registry::instance(), false);
  } catch (const InvalidOptions& e) {
    throw InvalidOptions(checkpoint + ": its run config" + (overrides.empty() ? "" : " with the --set overrides") +
                         " does not read in this build: " + e.what() +
                         (overrides.empty() ? "; pass --config with a current config file (ebm --help-all lists the "
                                              "fields)"
                                            : ""));
  }
}

/// Reads a checkpoint (every field and the CRC checked) and prints what it holds, with a CRC-32 of
/// its parameters: two runs whose checkpoints print the same params_crc32 have the same weights.
inline int inspect_command(const std::string& path) {
  auto show = [&](auto tag) {
    using T = decltype(tag);
    const Checkpoint<T> c = read_checkpoint<T>(path);
    std::cout << "checkpoint " << path << '\n'
              << "scalar " << (sizeof(T) == 4 ? "float" : "double") << '\n'
              << "model_kind " << c.model_kind << '\n'
              << "blocks " << describe_blocks(c.blocks) << '\n'
              << "params " << c.params.size() << '\n'
              << "epoch " << c.epoch << '\n'
              << "step " << c.step << '\n'
              << "seed " << c.seed << '\n';
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x",
                  unsigned(ebm::detail::crc32_of(std::string_view(reinterpret_cast<const char*>(c.params.data()),
                                                                  std::size_t(c.params.size()) * sizeof(T)))));
    std::cout << "params_crc32 " << crc << '\n' << "model options:\n" << c.model_options;
  };
  if (checkpoint_scalar_size(path) == 4) show(float{});
  else show(double{});
  return 0;
}

/// Runs a program with arguments (no shell: a path with quotes or spaces is one argument);
/// returns its exit status, or -1 when it could not be started.
inline int run_program(const std::vector<std::string>& argv, bool quiet = false) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline int plot_command(const std::filesystem::path& run, const std::string& script) {
  // Debian's python3-matplotlib lives with /usr/bin/python3, which a python3 earlier in PATH
  // (pyenv, a virtualenv) may not see: try it first, then whatever python3 PATH gives.
  std::string python;
  bool any_python = false;
  for (const std::string candidate : {"/usr/bin/python3", "python3"}) {
    const int rc = run_program({candidate, "-c", "import matplotlib"}, true);
    if (rc < 0) continue;
    any_python = true;
    if (rc == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) {
    std::cerr << "error: plot needs " << (any_python ? "matplotlib for python3" : "python3 and matplotlib")
              << ", which is not installed (Debian: apt-get install python3-matplotlib); nothing was plotted\n";
    return 1;
  }
  if (!std::filesystem::exists(script)) {
    std::cerr << "error: plotting script " << script << " not found (set --script)\n";
    return 1;
  }
  return run_program({python, script, run.string()}) == 0 ? 0 : 1;
}

/// `ebm kinds`: the registered models and rules, and which rules apply to which model.
inline int kinds_command(const Registry& registry = Registry::instance()) {
  std::cout << "models (model.kind):\n";
  for (const ModelEntry* m : registry.models()) {
    std::cout << "  " << m->name << ": " << m->doc << "\n    rules:";
    for (const std::string& r : m->rules) std::cout << ' ' << r;
    std::cout << '\n';
  }
  std::cout << "learning rules (estimator.kind):\n";
  for (const RuleEntry* r : registry.rules()) std::cout << "  " << r->name << ": " << r->doc << '\n';
  std::cout << "relaxation methods (relax.free.method, relax.nudged.method): " << enum_choices<Method>() << '\n';
  return 0;
}

/// Shorthand flags of `ebm train`, each a --set of one declared field.
struct FlagAlias {
  const char* flag;
  const char* field;
};
inline constexpr FlagAlias kTrainAliases[] = {
    {"--epochs", "data.epochs"},          {"--batch-size", "data.batch_size"}, {"--train-size", "data.train_size"},
    {"--test-size", "data.test_size"},    {"--seed", "data.seed"},             {"--threads", "parallel.threads"},
    {"--lr", "optimizer.learning_rate"},  {"--estimator", "estimator.kind"},   {"--model", "model.kind"},
    {"--data", "data.dir"},               {"--scalar", "model.scalar"},
};

/// The tool; see the file comment.
inline int run(int argc, char** argv, const std::string& source_dir = ".") {
  CLI::App app{"ebm: train, relax, gradient-check and plot energy-based networks"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand and every config field");

  // train
  CLI::App* train = app.add_subcommand("train", "train any registered model by any rule that applies to it");
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out_dir;
  CommandArgs args;
  train->add_option("-c,--config", config_path, "TOML config file (defaults for everything it leaves out)");
  train->add_option("--set", overrides,
                    "override a config field, e.g. --set relax.free.max_steps=50 (repeatable; ebm --help-all lists "
                    "the fields)");
  train->add_option("-o,--out", out_dir, "output directory (output.dir)");
  std::vector<std::string> alias_values(std::size(kTrainAliases));
  for (std::size_t i = 0; i < std::size(kTrainAliases); ++i)
    train->add_option(kTrainAliases[i].flag, alias_values[i],
                      std::string("shorthand for --set ") + kTrainAliases[i].field + "=VALUE");
  train->add_option("--resume", args.resume, "continue the run saved in this checkpoint");

  // relax
  CLI::App* relax = app.add_subcommand("relax", "relax a network on a few examples and write the convergence traces");
  std::string checkpoint, relax_config;
  std::vector<std::string> relax_overrides;
  args.out = "run";
  relax->add_option("--checkpoint", checkpoint, "trained network (default: a fresh one from the config)");
  relax->add_option("-c,--config", relax_config, "TOML config (default: the checkpoint's, else the defaults)");
  relax->add_option("--set", relax_overrides, "override a config field (repeatable)");
  relax->add_option("--examples", args.examples, "test examples to relax")->capture_default_str()->check(CLI::Range(1, 10000));
  relax->add_option("-o,--out", args.out, "directory for trace.csv")->capture_default_str();

  // gradcheck
  CLI::App* grad = app.add_subcommand("gradcheck", "compare EP, early inference and CHL with the exact gradient, per layer");
  std::string grad_checkpoint, grad_config;
  std::vector<std::string> grad_overrides;
  long grad_examples = 4;
  grad->add_option("--checkpoint", grad_checkpoint, "trained network (default: a fresh one from the config)");
  grad->add_option("-c,--config", grad_config, "TOML config (default: the checkpoint's, else the defaults)");
  grad->add_option("--set", grad_overrides, "override a config field (repeatable), e.g. --set model.activation=logistic");
  grad->add_option("--examples", grad_examples, "test examples in the batch")->capture_default_str()->check(CLI::Range(1, 1000));
  grad->add_option("--beta", args.betas,
                   "values of beta to sweep (repeatable; default: from a beta whose one-sided bias is about 5%, "
                   "halving down to where the residual's error floor starts)");
  grad->add_flag("--relax-from-config", args.relax_from_config,
                 "relax with the config's relax.free / relax.nudged as they are instead of tolerances derived from "
                 "beta (rows that miss the residual the check needs fail)");
  grad->add_option("--expect", args.expectations,
                   "override an expected order, name=order:tolerance (repeatable), e.g. ep_symmetric=2:0.3");
  std::string grad_out = "run";
  grad->add_option("-o,--out", grad_out, "directory for gradcheck.csv, gradcheck.json, stepbystep.csv")
      ->capture_default_str();
  grad->footer("Exit status: 0 every check passed; 3 a check failed (named at the end); 1 an error in the input.");

  // plot
  CLI::App* plot = app.add_subcommand("plot", "turn a run's metrics.csv, trace.csv and gradcheck.csv into PNG plots");
  std::string run_dir = "run";
  std::string script = source_dir + "/scripts/plot.py";
  plot->add_option("run", run_dir, "run directory")->capture_default_str();
  plot->add_option("--script", script, "the plotting script (python3 + matplotlib)")->capture_default_str();

  // inspect
  CLI::App* inspect = app.add_subcommand("inspect", "check a checkpoint (every field and its CRC) and print what it holds");
  std::string inspect_path;
  inspect->add_option("checkpoint", inspect_path, "checkpoint file")->required();

  CLI::App* kinds = app.add_subcommand("kinds", "list the registered models, learning rules and relaxation methods");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e);
    print_config_help(std::cout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (*train) {
      if (!out_dir.empty()) overrides.push_back("output.dir=\"" + out_dir + "\"");
      for (std::size_t i = 0; i < std::size(kTrainAliases); ++i)
        if (train->count(kTrainAliases[i].flag) > 0)
          overrides.push_back(std::string(kTrainAliases[i].field) + "=" + alias_values[i]);
      const RunConfig c = build_config(config_path, overrides);
      std::filesystem::create_directories(c.output.dir);
      remove_stale_temporaries(std::filesystem::path(c.output.dir) / "config.toml");
      write_file_atomically(std::filesystem::path(c.output.dir) / "config.toml", config_to_string(c));
      return Registry::instance().model(c.model.kind).train(c, args);
    }
    if (*relax) {
      const RunConfig c = config_of_checkpoint_or(checkpoint, relax_config, relax_overrides);
      args.checkpoint = checkpoint;
      return Registry::instance().model(c.model.kind).relax(c, args);
    }
    if (*grad) {
      const RunConfig c = config_of_checkpoint_or(grad_checkpoint, grad_config, grad_overrides);
      args.checkpoint = grad_checkpoint;
      args.examples = grad_examples;
      args.out = grad_out;
      return Registry::instance().model(c.model.kind).gradcheck(c, args);
    }
    if (*plot) return plot_command(run_dir, script);
    if (*inspect) return inspect_command(inspect_path);
    if (*kinds) return kinds_command();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace ebm::cli
