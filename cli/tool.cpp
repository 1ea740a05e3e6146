// The ebm_tool library: the built-in kinds' registration (which instantiates the trainer and
// the commands for every model, scalar and rule) and the command line, compiled once for the
// tool, the tests and any program that adds its own kinds.
#include <CLI/CLI.hpp>

#include <utility>

#include "cli/builtin_models.hpp"
#include "cli/registry.hpp"
#include "cli/tool.hpp"
#include "cli/sweep.hpp"

namespace ebm::cli {

// Defined in cli/kind_instances.hpp and instantiated, one kind and part per translation unit, by
// cli/kind_instances.cpp; here only declared, so that this file compiles none of it.
template <std::size_t I>
void register_builtin_kind(Registry& registry);

static_assert(std::tuple_size_v<BuiltinModels> == EBM_BUILTIN_KIND_COUNT,
              "cli/CMakeLists.txt compiles cli/kind_instances.cpp for EBM_BUILTIN_KIND_COUNT kinds: set it to the "
              "number of kinds in BuiltinModels (cli/builtin_models.hpp)");

void register_builtins(Registry& registry) {
  if (registry.has_model(std::tuple_element_t<0, BuiltinModels>::name)) return;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (register_builtin_kind<I>(registry), ...);
  }(std::make_index_sequence<std::tuple_size_v<BuiltinModels>>{});
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
int run(int argc, char** argv, const std::string& source_dir) {
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
  grad->add_option("--ratio", args.ratios,
                   "predictive_coding: variance ratios Sigma_L/Sigma_hidden to sweep (repeatable; default 1, 4, 16, "
                   "64, 256, 1024)")
      ->check(CLI::PositiveNumber);
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

  // sweep
  CLI::App* sweep = app.add_subcommand(
      "sweep", "train many configurations (a grid and/or a list of --set overrides), across MPI ranks if any");
  SweepArgs sweep_args;
  sweep_args.script = source_dir + "/scripts/plot.py";
  sweep->add_option("-c,--config", sweep_args.config, "base TOML config of every run");
  sweep->add_option("--set", sweep_args.sets, "override a config field in every run (repeatable)");
  sweep->add_option("--grid", sweep_args.grids,
                    "FIELD=V1,V2,...: one run per value; several --grid make their product (repeatable)");
  sweep->add_option("--run", sweep_args.runs, "FIELD=V,FIELD=W,...: one more run with these overrides (repeatable)");
  sweep->add_option("-o,--out", sweep_args.out, "sweep directory: run_NNN/ per run, sweep.csv, sweep.png")
      ->capture_default_str();
  sweep->add_option("--script", sweep_args.script, "the plotting script (empty: no plot)")->capture_default_str();
  sweep->footer(
      "Runs go to ranks in turn (run i to rank i mod N); a rerun skips finished runs and resumes the others.\n"
      "Exit status: 0 every run finished (or stopped on a numerical fault, status 'fault'); 1 otherwise.");

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
      args.group = world();
      if (!args.group || args.group->rank() == 0) {  // the first process writes the files
        std::filesystem::create_directories(c.output.dir);
        remove_stale_temporaries(std::filesystem::path(c.output.dir) / "config.toml");
        write_file_atomically(std::filesystem::path(c.output.dir) / "config.toml", config_to_string(c));
      }
      return Registry::instance().model(c.model.kind).train(c, args);
    }
    if (*relax) {
      const RunConfig c = config_of_checkpoint_or(checkpoint, relax_config, relax_overrides);
      args.checkpoint = checkpoint;
      return Registry::instance().model(c.model.kind).relax(c, args);
    }
    if (*grad) {
      RunConfig c = config_of_checkpoint_or(grad_checkpoint, grad_config, grad_overrides);
      const std::string note =
          smooth_gradcheck_default(c, !grad_checkpoint.empty() || !grad_config.empty(), grad_overrides);
      if (!note.empty()) {
        c = build_config("", grad_overrides, false);
        std::cout << note;
      }
      args.checkpoint = grad_checkpoint;
      args.examples = grad_examples;
      args.out = grad_out;
      return Registry::instance().model(c.model.kind).gradcheck(c, args);
    }
    if (*plot) return plot_command(run_dir, script);
    if (*inspect) return inspect_command(inspect_path);
    if (*kinds) return kinds_command();
    if (*sweep) return sweep_command(sweep_args, world().get());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace ebm::cli
