#pragma once
/// \file
/// The registry: the one place where the tool learns which models and learning rules exist.
/// Each kind is {name, doc, options (declared fields), factory}; the config reader, `--help-all`,
/// `ebm kinds`, the commands and the checkpoints all ask it. An entry is type-erased here
/// (std::function) so that the config code needs no template per kind; the templates that fill
/// an entry (cli/registry.hpp) instantiate the trainer and the commands once per model, scalar
/// and rule, so nothing is virtual inside a relaxation.

#include <toml++/toml.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace ebm {
class TrainingCallback;
class Collective;
}

namespace ebm::cli {

struct RunConfig;

/// What `ebm relax` and `ebm gradcheck` were asked (besides the config).
struct CommandArgs {
  std::string checkpoint;          ///< a trained network, or empty for a fresh one
  long examples = 8;               ///< test examples to relax or check
  std::vector<double> betas;       ///< gradcheck: β sweep (empty: one adapted to the network)
  std::vector<double> ratios;      ///< gradcheck, predictive_coding: Σ_L/Σ_hidden sweep (empty: 1, 4, …, 1024)
  bool relax_from_config = false;  ///< gradcheck: relax with the config's relax.* as they are, not tolerances derived from β
  std::vector<std::string> expectations;  ///< gradcheck: `name=order:tolerance` overrides of the expected orders
  std::string out = "run";         ///< output directory
  std::string resume;              ///< train: checkpoint to continue from
  /// train: callbacks added after the tool's own (the Python module's per-epoch functions).
  std::vector<std::shared_ptr<TrainingCallback>> callbacks;
  /// train: a TrainingFault propagates to the caller (with its fields) instead of being reported
  /// on stderr as exit status 2; for callers that are not a command line (the Python module).
  bool rethrow_faults = false;
  /// train: the processes (MPI ranks) that share every minibatch; none: this process alone.
  std::shared_ptr<Collective> group;
  /// train: a progress bar on a terminal (off for the runs of a sweep, whose output goes to a log).
  bool progress = true;
};

/// A learning rule as the config sees it.
struct RuleEntry {
  std::string name, doc;
  /// Reads the rule's own keys of [estimator] (naming unknown ones), validates, and returns them
  /// complete with defaults.
  std::function<toml::table(const toml::table&)> normalize;
  std::function<void(std::ostream&)> help;
};

/// A model kind: its options, and the commands instantiated for it.
struct ModelEntry {
  std::string name, doc;
  std::function<toml::table(const toml::table&)> normalize;
  std::function<void(std::ostream&)> help;
  /// Checks what only the model and the rule together can judge (throws InvalidOptions naming the field).
  std::function<void(const RunConfig&)> check_run;
  std::function<int(const RunConfig&, const CommandArgs&)> train, relax, gradcheck;
  std::vector<std::string> rules;  ///< the rules that apply to it
};

class Registry {
 public:
  /// The tool's registry (register_builtins() fills it; a user's program may add more).
  static Registry& instance() {
    static Registry r;
    return r;
  }

  void add(ModelEntry m) {
    require<InvalidOptions>(!find(models_, m.name), "model kind '", m.name, "' is registered twice");
    models_.push_back(std::make_unique<ModelEntry>(std::move(m)));
  }
  void add(RuleEntry r) {
    if (find(rules_, r.name)) return;  // every model registration brings the rules it knows
    rules_.push_back(std::make_unique<RuleEntry>(std::move(r)));
  }

  bool has_model(std::string_view name) const { return find(models_, name) != nullptr; }

  const ModelEntry& model(std::string_view name) const {
    if (const ModelEntry* m = find(models_, name)) return *m;
    throw InvalidOptions("model.kind = \"" + std::string(name) + "\" is not a registered model (registered: " +
                         names(models_) + ")");
  }
  const RuleEntry& rule(std::string_view name) const {
    if (const RuleEntry* r = find(rules_, name)) return *r;
    throw InvalidOptions("estimator.kind = \"" + std::string(name) + "\" is not a registered learning rule (" +
                         "registered: " + names(rules_) + ")");
  }
  std::vector<const ModelEntry*> models() const { return all(models_); }
  std::vector<const RuleEntry*> rules() const { return all(rules_); }

 private:
  template <class E>
  static const E* find(const std::vector<std::unique_ptr<E>>& v, std::string_view name) {
    for (const auto& e : v)
      if (e->name == name) return e.get();
    return nullptr;
  }
  template <class E>
  static std::string names(const std::vector<std::unique_ptr<E>>& v) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ", ") + e->name;
    return out;
  }
  template <class E>
  static std::vector<const E*> all(const std::vector<std::unique_ptr<E>>& v) {
    std::vector<const E*> out;
    for (const auto& e : v) out.push_back(e.get());
    return out;
  }

  std::vector<std::unique_ptr<ModelEntry>> models_;
  std::vector<std::unique_ptr<RuleEntry>> rules_;
};

}  // namespace ebm::cli
