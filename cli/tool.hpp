#pragma once
/// \file
/// The `ebm` tool as a function: ebm::cli::run(argc, argv) parses the command line and runs a
/// subcommand on whatever the registry holds. cli/main.cpp registers the built-in kinds and
/// calls it; a program that registers its own model kind first (cli/registry.hpp) gets the whole
/// tool for it (examples/custom_model.cpp). The commands' helpers are here; run() and
/// register_builtins() are compiled once, in cli/tool.cpp.
///
/// Exit status: 0 done; 1 an error in the input (config, data, checkpoint) or the environment;
/// 2 training stopped on a numerical fault (divergence, non-finite gradient), the last good
/// checkpoint and metrics.csv left as they were; 3 `ebm gradcheck` ran but a check failed (the
/// failing rows are named at the end of its output and in gradcheck.json).

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/config.hpp"
#include "cli/registry_core.hpp"
#include "training/checkpoint.hpp"
#include "training/collective.hpp"

extern char** environ;

namespace ebm::cli {

/// The built-in model kinds and learning rules (cli/tool.cpp, compiled once into the ebm_tool
/// library: registering a kind instantiates the trainer and the commands for it). Calling it
/// again does nothing.
void register_builtins(Registry& registry = Registry::instance());

/// The tool; see the file comment. `source_dir` finds scripts/plot.py.
int run(int argc, char** argv, const std::string& source_dir = ".");

/// The processes this program runs in (set by cli/mpi.cpp when started by mpirun; empty when it
/// runs alone): `ebm train` shares its minibatches among them, `ebm sweep` its runs.
inline std::shared_ptr<Collective>& world() {
  static std::shared_ptr<Collective> group;
  return group;
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

/// Whether one of the overrides (section.key=value) sets `key`.
inline bool overrides_set(const std::vector<std::string>& overrides, std::string_view key) {
  for (const std::string& o : overrides) {
    std::string k = o.substr(0, o.find('='));
    while (!k.empty() && k.back() == ' ') k.pop_back();
    if (k == key) return true;
  }
  return false;
}

/// `ebm gradcheck` with nothing to check given (no checkpoint, no config, no --set of the
/// activation): the defaults' hard sigmoid would be refused (its kinks leave EP's error no order
/// in β to judge), so a new user's first check runs on the same default network with the
/// logistic. Appends that override and returns the line that says so when it applies; returns ""
/// and leaves `overrides` alone otherwise. `c` is the config built without it.
inline std::string smooth_gradcheck_default(const RunConfig& c, bool checkpoint_or_config_given,
                                            std::vector<std::string>& overrides) {
  if (checkpoint_or_config_given || overrides_set(overrides, "model.activation") ||
      c.model_options["activation"].value_or(std::string()) != "hard_sigmoid")
    return "";
  overrides.push_back("model.activation=\"logistic\"");
  return "gradcheck: no config given, so the default network with model.activation = logistic: the default hard "
         "sigmoid has kinks, where EP's error has no order in beta to judge (give a config, a checkpoint or --set "
         "model.activation to choose)\n";
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

}  // namespace ebm::cli
