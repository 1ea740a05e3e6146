#pragma once
/// \file
/// The configuration of a run of the `ebm` tool: one TOML file whose tables are the declared
/// fields of the options structs (core/fields.hpp) — [model] and [estimator] those of the kinds
/// the registry knows (cli/registry_core.hpp), [relax.free] and [relax.nudged] RelaxOptions,
/// [optimizer] OptimizerOptions, [schedule] ScheduleOptions, [early_stopping] EarlyStoppingOptions,
/// [parallel] ParallelOptions, [langevin] LangevinPhaseOptions (the chains of Langevin phases),
/// [data] and [output] below. Reading,
/// writing, validation naming `section.field`, `--help-all` and `--set` all come from those
/// declarations. Unknown keys and bad values are errors naming the field, so a typo never
/// silently falls back to a default; the effective configuration is written back next to the results.
///
/// Tool code: needs toml++ (Debian: libtomlplusplus-dev). The library headers do not.

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/registry_core.hpp"
#include "cli/toml_fields.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/input_file.hpp"
#include "data/augment.hpp"
#include "data/fashion_mnist.hpp"
#include "learning/langevin_phases.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax_options.hpp"
#include "training/callbacks.hpp"
#include "training/faults.hpp"
#include "training/trainer.hpp"
#include "training/optimizer.hpp"

namespace ebm::cli {

/// Float for speed; double for verification.
enum class Precision { single, double_ };

}  // namespace ebm::cli

template <>
struct ebm::EnumNames<ebm::cli::Precision> {
  static constexpr std::array<std::pair<ebm::cli::Precision, std::string_view>, 2> values{
      {{ebm::cli::Precision::single, "float"}, {ebm::cli::Precision::double_, "double"}}};
};

namespace ebm::cli {

namespace checks {
/// A path or name: no NUL (it would cut the string where the OS reads it).
struct NoNul {
  std::string operator()(const std::string& s) const {
    return s.find('\0') == std::string::npos ? std::string() : "must not contain a NUL character";
  }
};
struct NotEmptyPath {
  std::string operator()(const std::string& s) const {
    if (s.empty()) return "must not be empty";
    return NoNul{}(s);
  }
};
}  // namespace checks

/// [data]: where the examples come from and how they are cut.
struct DataConfig {
  /// A Fashion-MNIST directory (train-*/t10k-* IDX files, gzipped or not) …
  std::string dir = kDebianFashionMnistDir.string();
  /// … or explicit IDX files (all four, e.g. MNIST at a user path); they take precedence over `dir`.
  std::string train_images, train_labels, test_images, test_labels;
  Index train_size = 0;
  Index test_size = 0;
  Index validation_size = 0;
  Index eval_train_size = 1000;
  Index batch_size = 32;
  long epochs = 1;
  std::uint64_t seed = 1;
  int augment_shift = 0;
  bool augment_flip = false;
  std::vector<Index> image_shape;  ///< [channels, height, width]; empty: from the IDX files

  static constexpr auto fields() {
    using D = DataConfig;
    constexpr ebm::checks::InRange batch{1, double(Index(1) << 24), true};
    return std::tuple{
        field("dir", &D::dir, "Fashion-MNIST directory (train-*/t10k-* IDX files, gzipped or not)", checks::NoNul{}),
        field("train_images", &D::train_images, "IDX file (with the other three: instead of dir)", checks::NoNul{}),
        field("train_labels", &D::train_labels, "IDX file", checks::NoNul{}),
        field("test_images", &D::test_images, "IDX file", checks::NoNul{}),
        field("test_labels", &D::test_labels, "IDX file", checks::NoNul{}),
        field("train_size", &D::train_size, "use the first n training examples (0 = all)", non_negative),
        field("test_size", &D::test_size, "evaluate on the first n test examples (0 = all)", non_negative),
        field("validation_size", &D::validation_size, "held out of the training set by a seeded permutation (0 = none)",
              non_negative),
        field("eval_train_size", &D::eval_train_size, "training examples re-evaluated after each epoch (0 = all)",
              non_negative),
        field("batch_size", &D::batch_size, "examples per optimizer step", batch),
        field("epochs", &D::epochs, "epochs to train (counting those of a resumed run)", non_negative),
        field("seed", &D::seed, "shuffles, validation split, random signs, Langevin noise, augmentation"),
        field("augment_shift", &D::augment_shift,
              "translate each training image by up to this many pixels each way (zero padding), anew every epoch",
              ebm::checks::InRange{0, 1 << 16}),
        field("augment_flip", &D::augment_flip, "mirror each training image left-right with probability 1/2"),
        field("image_shape", &D::image_shape,
              "[channels, height, width] of the images, channel-fastest (empty: from 3-dimensional IDX files)",
              ebm::checks::Every<ebm::checks::InRange>{{1, double(Index(1) << 24), true}}),
    };
  }
};

/// The augmentation `d` asks for, on the training set `train`: the images' shape from
/// data.image_shape, else from the IDX files. Throws InvalidOptions when it does not fit the images.
template <class T>
Augmentation augmentation(const DataConfig& d, const LabelledImages<T>& train) {
  Augmentation a;
  a.shift = d.augment_shift;
  a.flip = d.augment_flip;
  a.seed = d.seed;
  if (d.image_shape.size() == 3) {
    a.channels = d.image_shape[0];
    a.height = d.image_shape[1];
    a.width = d.image_shape[2];
  } else {
    a.height = train.height;
    a.width = train.width;
  }
  a.validate(train.images.rows());
  return a;
}

/// [output]: where results go.
struct OutputConfig {
  std::string dir = "run";
  bool checkpoint = true;

  static constexpr auto fields() {
    return std::tuple{
        field("dir", &OutputConfig::dir, "metrics.csv, config.toml, checkpoint.bin go here", checks::NotEmptyPath{}),
        field("checkpoint", &OutputConfig::checkpoint, "write a checkpoint after every epoch"),
    };
  }
};

/// [model] and [estimator]: a kind the registry knows, and its options (read, validated and
/// completed with defaults by the kind's entry; kept as TOML so that any registered kind fits).
struct KindSection {
  std::string kind;
  toml::table options;  ///< every option of the kind, defaults included (not `kind` itself)
};

/// The [model] and [estimator] keys that are not a kind's own.
struct ModelCommon {
  std::string kind = "layered_hopfield";
  Precision scalar = Precision::single;
  static constexpr auto fields() {
    return std::tuple{field("kind", &ModelCommon::kind, "a registered model kind (ebm kinds lists them)"),
                      field("scalar", &ModelCommon::scalar, "float (speed) or double (verification)")};
  }
};
struct EstimatorCommon {
  std::string kind = "ep";
  CostKind cost = CostKind::squared_error;
  static constexpr auto fields() {
    return std::tuple{field("kind", &EstimatorCommon::kind, "a registered learning rule (ebm kinds lists them)"),
                      field("cost", &EstimatorCommon::cost, "squared_error or cross_entropy (softmax readout)")};
  }
};

/// [relax]: what a relaxation that misses its grad_tol (> 0) within its budget does in training.
struct RelaxCommon {
  OnUnconverged on_unconverged = OnUnconverged::warn;
  static constexpr auto fields() {
    return std::tuple{field("on_unconverged", &RelaxCommon::on_unconverged,
                            "warn (counted in metrics.csv and the epoch line) or fail")};
  }
};

/// The whole run.
struct RunConfig {
  ModelCommon model;
  toml::table model_options;  ///< the model kind's options, complete
  DataConfig data;
  RelaxCommon relax;
  RelaxOptions relax_free = default_training_relax(100);
  RelaxOptions relax_nudged = default_training_relax(50);
  EstimatorCommon estimator;
  toml::table estimator_options;  ///< the rule's options, complete
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  EarlyStoppingOptions early_stopping;
  ParallelOptions parallel;
  /// How the rules with Langevin phases sample them (relax.*.method = ula or mala): chains per
  /// example, burn-in, samples, thinning, shared or antithetic noise (learning/langevin_phases.hpp).
  LangevinPhaseOptions langevin;
  OutputConfig output;

  /// The [model] table as TOML text (what a checkpoint stores to rebuild the model).
  std::string model_text() const {
    toml::table t = model_options;
    t.insert_or_assign("kind", model.kind);
    std::ostringstream o;
    o << t << '\n';
    return o.str();
  }
};

/// A kind's options from its normalised [model] table.
template <class Kind>
typename Kind::Options model_options(const toml::table& t) {
  typename Kind::Options o;
  TableReader r(&t, "model.");
  r.read(o);
  return o;
}

namespace detail {
inline const toml::table* subtable(const toml::table& t, std::string_view key, const std::string& field) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) throw InvalidOptions("config key '" + field + "' must be a table ([" + field + "])");
  return n->as_table();
}

/// A section that is exactly one declared struct.
template <HasFields S>
void read_section(const toml::table& root, TableReader& top, std::string_view key, S& out) {
  top.find(key);
  TableReader r(subtable(root, key, std::string(key)), std::string(key) + ".");
  r.read(out);
  r.reject_unknown();
}

/// The kind's own keys of a [model] or [estimator] table: the table less the common keys.
inline toml::table kind_keys(const toml::table* t, std::initializer_list<std::string_view> common) {
  toml::table out;
  if (!t) return out;
  for (const auto& [key, node] : *t) {
    const bool is_common = std::find(common.begin(), common.end(), key.str()) != common.end();
    if (!is_common) out.insert(key, node);
  }
  return out;
}

/// Validates a phase, naming relax.free / relax.nudged.
inline void validate_phase(const RelaxOptions& o, const std::string& name) {
  std::string why;
  if (!o.is_valid(&why, name + ".")) throw InvalidOptions(why);
}
}  // namespace detail

/// Builds a RunConfig from a parsed TOML table (defaults for what it leaves out) and validates
/// it; the model's and the rule's options are checked by their registry entries.
/// `for_training`: also check that the rule applies to the model and its phases suit both (the
/// commands that only relax or check gradients use the phases and the model, not the rule).
inline RunConfig config_from_toml(const toml::table& root, const Registry& registry = Registry::instance(),
                                  bool for_training = true) {
  RunConfig c;
  TableReader top(&root, "");
  {
    top.find("model");
    const toml::table* t = detail::subtable(root, "model", "model");
    TableReader r(t, "model.");
    r.read(c.model);
    const ModelEntry& m = registry.model(c.model.kind);
    c.model_options = m.normalize(detail::kind_keys(t, {"kind", "scalar"}));
  }
  detail::read_section(root, top, "data", c.data);
  if (const toml::table* relax = detail::subtable(root, "relax", "relax")) {
    top.find("relax");
    TableReader r(relax, "relax.");
    r.read(c.relax);
    r.find("free");
    r.find("nudged");
    TableReader f(detail::subtable(*relax, "free", "relax.free"), "relax.free.");
    TableReader n(detail::subtable(*relax, "nudged", "relax.nudged"), "relax.nudged.");
    // The training default sweeps layers alternately, which only fixed_point does: a table that
    // picks another method without a schedule means the synchronous one.
    for (auto [reader, phase] : {std::pair{&f, &c.relax_free}, std::pair{&n, &c.relax_nudged}}) {
      reader->get("method", phase->method);
      if (phase->method != Method::fixed_point) phase->schedule = Schedule::synchronous;
      reader->read(*phase);
      reader->reject_unknown();
    }
    r.reject_unknown();
  }
  detail::validate_phase(c.relax_free, "relax.free");
  detail::validate_phase(c.relax_nudged, "relax.nudged");
  {
    top.find("estimator");
    const toml::table* t = detail::subtable(root, "estimator", "estimator");
    TableReader r(t, "estimator.");
    r.read(c.estimator);
    const RuleEntry& rule = registry.rule(c.estimator.kind);
    c.estimator_options = rule.normalize(detail::kind_keys(t, {"kind", "cost"}));
  }
  detail::read_section(root, top, "optimizer", c.optimizer);
  detail::read_section(root, top, "schedule", c.schedule);
  detail::read_section(root, top, "early_stopping", c.early_stopping);
  detail::read_section(root, top, "parallel", c.parallel);
  detail::read_section(root, top, "langevin", c.langevin);
  detail::read_section(root, top, "output", c.output);
  top.reject_unknown();
  std::string why;
  if (!check_fields(c.data, "data.", &why) || !check_fields(c.output, "output.", &why) ||
      !c.langevin.is_valid(&why, "langevin.") ||
      (is_langevin(c.relax_nudged.method) && !pair_start_valid(c.relax_free, c.langevin, "langevin.", &why)) ||
      !check_fields(c.schedule, "schedule.", &why) || !check_fields(c.early_stopping, "early_stopping.", &why) ||
      !c.optimizer.is_valid(&why))
    throw InvalidOptions(why);
  c.parallel.validate();
  require<InvalidOptions>(c.data.image_shape.empty() || c.data.image_shape.size() == 3,
                          "data.image_shape must be [channels, height, width], got ", c.data.image_shape.size(),
                          " entries");
  const int files = !c.data.train_images.empty() + !c.data.train_labels.empty() + !c.data.test_images.empty() +
                    !c.data.test_labels.empty();
  require<InvalidOptions>(c.early_stopping.patience == 0 || c.data.validation_size > 0,
                          "early_stopping.patience = ", c.early_stopping.patience,
                          " watches the validation accuracy, but data.validation_size = 0 holds out none");
  require<InvalidOptions>(files == 0 || files == 4,
                          "data.train_images, data.train_labels, data.test_images and data.test_labels go together: "
                          "give all four or none (then data.dir is used)");
  // What only the pair (model, rule) can judge: the rule applies to the model, the phases'
  // methods suit both (a Langevin phase where the rule has none, rk4 on a clipped model).
  if (for_training) registry.model(c.model.kind).check_run(c);
  return c;
}

/// Parses TOML text (`source` names it in errors).
inline toml::table parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw InvalidOptions(o.str());
  }
}

/// Parses a TOML file; a missing file, a directory, bad UTF-8 or a syntax error is an error
/// naming the file (and the line and column).
inline toml::table parse_toml_file(const std::filesystem::path& path) {
  require_regular_file(path, "config file");
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw InvalidOptions(o.str());
  }
}

/// Applies an override "section.key=value" (value in TOML syntax, bare words taken as strings)
/// to a parsed config, e.g. "data.epochs=3", "relax.free.method=euler", "model.sizes=[784,32,10]".
inline void apply_override(toml::table& root, std::string_view assignment) {
  const std::size_t eq = assignment.find('=');
  require<InvalidOptions>(eq != std::string_view::npos && eq > 0, "override '", assignment,
                          "' must look like section.key=value");
  std::string key(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  while (!key.empty() && key.back() == ' ') key.pop_back();
  // The key is dotted bare words: anything else (quotes, '#', spaces, an empty part) would let
  // the TOML parser read something other than one assignment, or nothing at all.
  bool key_ok = !key.empty() && key.front() != '.' && key.back() != '.' && key.find("..") == std::string::npos;
  for (char ch : key)
    key_ok = key_ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                        ch == '_' || ch == '-' || ch == '.');
  require<InvalidOptions>(key_ok, "override '", assignment, "': the key must be section.key (letters, digits, _ and -)");
  require<InvalidOptions>(value.find_first_not_of(" \t") != std::string::npos, "override '", assignment,
                          "': no value after '='");
  toml::table parsed;
  try {
    parsed = toml::parse(key + " = " + value);
  } catch (const toml::parse_error&) {
    try {
      parsed = toml::parse(key + " = \"" + value + "\"");  // a bare word: a string
    } catch (const toml::parse_error& e) {
      throw InvalidOptions("override '" + std::string(assignment) + "': " + std::string(e.description()));
    }
  }
  // Walk down the dotted key, creating tables, and replace the leaf. Each level must hold exactly
  // one entry: a value that smuggles in more ("1\n[data]\nseed = 2", "{}") is refused.
  toml::table* at = &root;
  toml::table* from = &parsed;
  for (std::size_t depth = 0; depth < key.size() + 1; ++depth) {
    require<InvalidOptions>(from->size() == 1, "override '", assignment, "' must set exactly one field");
    auto it = from->begin();
    const std::string k(it->first.str());
    toml::table* deeper = it->second.as_table();
    if (!deeper || depth + 1 == std::size_t(std::count(key.begin(), key.end(), '.')) + 1) {
      at->insert_or_assign(k, it->second);
      return;
    }
    toml::node* existing = at->get(k);
    if (!existing) {
      at->insert(k, toml::table{});
      existing = at->get(k);
    }
    require<InvalidOptions>(existing->is_table(), "override '", assignment, "': '", k, "' is not a table");
    at = existing->as_table();
    from = deeper;
  }
  throw InvalidOptions("override '" + std::string(assignment) + "' must set exactly one field");
}

/// Reads a config file; errors name the file and the field.
inline RunConfig read_config(const std::filesystem::path& path) {
  const toml::table root = parse_toml_file(path);
  try {
    return config_from_toml(root);
  } catch (const InvalidOptions& e) {
    throw InvalidOptions(path.string() + ": " + e.what());
  }
}

/// The configuration as a TOML table (every field, defaults included: the run's full record).
inline toml::table config_to_toml(const RunConfig& c) {
  toml::table model = c.model_options, estimator = c.estimator_options, relax, free, nudged, data, optimizer,
              schedule, early_stopping, parallel, langevin, output;
  write_fields(c.model, model);
  write_fields(c.estimator, estimator);
  write_fields(c.relax, relax);
  write_fields(c.relax_free, free);
  write_fields(c.relax_nudged, nudged);
  relax.insert("free", std::move(free));
  relax.insert("nudged", std::move(nudged));
  write_fields(c.data, data);
  write_fields(c.optimizer, optimizer);
  write_fields(c.schedule, schedule);
  write_fields(c.early_stopping, early_stopping);
  write_fields(c.parallel, parallel);
  write_fields(c.langevin, langevin);
  write_fields(c.output, output);
  return toml::table{{"model", model},     {"data", data},           {"relax", relax},
                     {"estimator", estimator}, {"optimizer", optimizer}, {"schedule", schedule},
                     {"early_stopping", early_stopping}, {"parallel", parallel}, {"langevin", langevin},
                     {"output", output}};
}

/// The configuration as TOML text.
inline std::string config_to_string(const RunConfig& c) {
  std::ostringstream o;
  o << config_to_toml(c) << '\n';
  return o.str();
}

/// Every config field with its default and doc, generated from the declarations (--help-all).
inline void print_config_help(std::ostream& out, const Registry& registry = Registry::instance()) {
  out << "Config fields (TOML; any of them on the command line as --set section.field=value):\n";
  help_fields(out, "model.", ModelCommon{});
  for (const ModelEntry* m : registry.models()) {
    out << " [model] kind = \"" << m->name << "\": " << m->doc << '\n';
    m->help(out);
  }
  help_fields(out, "data.", DataConfig{});
  help_fields(out, "relax.", RelaxCommon{});
  help_fields(out, "relax.free.", default_training_relax(100));
  out << "  relax.nudged.*: as relax.free (max_steps = 50)\n";
  help_fields(out, "estimator.", EstimatorCommon{});
  for (const RuleEntry* r : registry.rules()) {
    out << " [estimator] kind = \"" << r->name << "\": " << r->doc << '\n';
    r->help(out);
  }
  help_fields(out, "optimizer.", OptimizerOptions{});
  help_fields(out, "schedule.", ScheduleOptions{});
  help_fields(out, "early_stopping.", EarlyStoppingOptions{});
  help_fields(out, "parallel.", ParallelOptions{});
  help_fields(out, "langevin.", LangevinPhaseOptions{});
  help_fields(out, "output.", OutputConfig{});
}

}  // namespace ebm::cli
