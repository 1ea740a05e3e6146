#pragma once
/// \file
/// The configuration of a training run: one TOML file whose tables map one-to-one onto the
/// options structs ([model], [data], [relax.free], [relax.nudged], [estimator], [optimizer],
/// [parallel], [output]). Unknown keys and bad values are errors naming the field
/// ("relax.free.dt must be a positive finite number, got -1"), so a typo never silently falls
/// back to a default. The effective configuration is written back as TOML next to the results.
///
/// Needs toml++ (Debian: libtomlplusplus-dev; link tomlplusplus::tomlplusplus).

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/activation.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "data/fashion_mnist.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax_options.hpp"
#include "training/faults.hpp"
#include "training/optimizer.hpp"

namespace ebm {

/// Sane limits on sizes a config may ask for: beyond them a value is a typo or a hostile file,
/// and refusing it is better than an allocation that fails (or succeeds) hours later. A layer of
/// 2^24 units matches what a checkpoint may hold; 2^31 parameters are 8 GiB in float.
inline constexpr Index kMaxLayerSize = Index(1) << 24;
inline constexpr Index kMaxLayers = 1000;
inline constexpr Index kMaxParams = Index(1) << 31;
inline constexpr Index kMaxBatch = Index(1) << 24;
inline constexpr int kMaxThreads = 4096;

/// [model]: a layered Hopfield network.
struct ModelConfig {
  std::vector<Index> sizes = {784, 64, 10};  ///< input, hidden…, output
  Activation activation = Activation::Kind::hard_sigmoid;
  std::uint64_t init_seed = 1;  ///< seeds the initial weights
  /// "fan_in_uniform": W_k and b_k ~ U(±gain/√n_{k−1}), PyTorch's nn.Linear, what the EP
  /// reference codes start from; "glorot": W_k ~ U(±gain·√(6/(n_k + n_{k−1}))), zero biases.
  std::string init = "fan_in_uniform";
  double init_gain = 1.0;          ///< the gain of every layer unless init_gains says otherwise
  std::vector<double> init_gains;  ///< one gain per layer k = 1…L (empty: all init_gain)
  std::string scalar = "float";  ///< "float" or "double"
};

/// Initialises a layered network as `m` says (m.init, m.init_gain or m.init_gains, m.init_seed);
/// the config must be valid. A template so that this header needs no model.
template <class Net>
void init_model(Net& net, const ModelConfig& m) {
  using T = typename Net::Scalar;
  std::vector<T> gains(m.sizes.size() - 1, T(m.init_gain));
  if (!m.init_gains.empty()) gains.assign(m.init_gains.begin(), m.init_gains.end());
  if (m.init == "glorot") net.init_glorot(m.init_seed, gains);
  else net.init_fan_in_uniform(m.init_seed, gains);
}

/// [data]: where the examples come from and how they are cut.
struct DataConfig {
  /// A Fashion-MNIST directory (train-*/t10k-* IDX files, gzipped or not) …
  std::string dir = kDebianFashionMnistDir.string();
  /// … or explicit IDX files (all four, e.g. MNIST at a user path); they take precedence over `dir`.
  std::string train_images, train_labels, test_images, test_labels;
  Index train_size = 0;        ///< use the first n training examples (0 = all)
  Index test_size = 0;         ///< evaluate on the first n test examples (0 = all)
  Index validation_size = 0;   ///< held out of the training set by a seeded permutation
  Index eval_train_size = 1000;  ///< training examples re-evaluated after each epoch (0 = all)
  Index batch_size = 32;
  long epochs = 1;
  std::uint64_t seed = 1;  ///< shuffles, validation split, EP random signs
};

/// [estimator]: the learning rule.
struct EstimatorConfig {
  std::string kind = "ep";  ///< ep, chl, early_inference
  EPVariant variant = EPVariant::one_sided;
  double beta = 0.5;
  std::string cost = "squared_error";  ///< squared_error or cross_entropy
  double gamma = 1.0;  ///< chl: Xie–Seung feedback gain (energy models: keep 1)
  double dt = 0.5;     ///< early_inference: step of the Euler steps after the nudge
  long steps = 0;      ///< early_inference: steps after the nudge (0 = one per layer)
};

/// [output]: where results go.
struct OutputConfig {
  std::string dir = "run";  ///< metrics.csv, config.toml, checkpoint.bin
  bool checkpoint = true;   ///< write a checkpoint after every epoch
};

/// Relaxation defaults for training a hard-sigmoid network: the alternating fixed-point sweep
/// with ε = 1 (each layer jumps to its clipped input, Scellier & Bengio 2017), stopped at a
/// small residual or a step budget, so that an epoch costs a bounded number of sweeps.
inline RelaxOptions default_training_relax(long max_steps) {
  RelaxOptions o;
  o.method = Method::fixed_point;
  o.dt = 1.0;
  o.schedule = Schedule::alternating;
  o.grad_tol = 1e-4;
  o.max_steps = max_steps;
  return o;
}

/// The whole run.
struct TrainConfig {
  ModelConfig model;
  DataConfig data;
  RelaxOptions relax_free = default_training_relax(100);
  RelaxOptions relax_nudged = default_training_relax(50);
  /// [relax] on_unconverged: what a relaxation that misses its grad_tol (> 0) within its budget
  /// does during training: "warn" (counted in metrics.csv and the epoch line) or "fail".
  OnUnconverged on_unconverged = OnUnconverged::warn;
  EstimatorConfig estimator;
  OptimizerOptions optimizer;
  ParallelOptions parallel;
  OutputConfig output;

  /// EPOptions for the estimator section (seeded by data.seed for the random-sign variant).
  EPOptions ep_options() const {
    EPOptions o;
    o.free = relax_free;
    o.nudged = relax_nudged;
    o.beta = estimator.beta;
    o.variant = estimator.variant;
    o.seed = data.seed;
    return o;
  }

  /// CHLOptions: free phase relax.free, clamped phase relax.nudged.
  CHLOptions chl_options() const {
    CHLOptions o;
    o.free = relax_free;
    o.clamped = relax_nudged;
    o.gamma = estimator.gamma;
    return o;
  }
  /// EarlyInferenceOptions: free phase relax.free, then estimator.steps Euler steps of estimator.dt.
  EarlyInferenceOptions early_options() const {
    EarlyInferenceOptions o;
    o.free = relax_free;
    o.beta = estimator.beta;
    o.dt = estimator.dt;
    o.steps = estimator.steps;
    return o;
  }

  /// True when every field is usable; otherwise `why` names the first bad field.
  bool is_valid(std::string* why = nullptr) const {
    std::ostringstream w;
    auto bad = [&](auto&&... parts) {
      (w << ... << parts);
      if (why) *why = w.str();
      return false;
    };
    if (model.sizes.size() < 2) return bad("model.sizes needs at least an input and an output layer");
    if (Index(model.sizes.size()) > kMaxLayers)
      return bad("model.sizes has ", model.sizes.size(), " layers, more than the limit of ", kMaxLayers);
    Index params = 0;
    for (std::size_t k = 0; k < model.sizes.size(); ++k) {
      if (model.sizes[k] < 1) return bad("model.sizes[", k, "] must be ≥ 1, got ", model.sizes[k]);
      if (model.sizes[k] > kMaxLayerSize)
        return bad("model.sizes[", k, "] = ", model.sizes[k], " is beyond the limit of ", kMaxLayerSize, " units");
      if (k > 0) params += model.sizes[k] * (model.sizes[k - 1] + 1);  // < 2^49 each: no overflow
    }
    if (params > kMaxParams)
      return bad("model.sizes ask for ", params, " parameters, beyond the limit of ", kMaxParams);
    if (model.sizes.back() != 10) return bad("model.sizes: the output layer must have 10 units (one per class), got ",
                                             model.sizes.back());
    if (!(std::isfinite(model.init_gain) && model.init_gain > 0))
      return bad("model.init_gain must be positive, got ", model.init_gain);
    if (model.init != "fan_in_uniform" && model.init != "glorot")
      return bad("model.init must be \"fan_in_uniform\" or \"glorot\", got \"", model.init, "\"");
    if (!model.init_gains.empty() && model.init_gains.size() != model.sizes.size() - 1)
      return bad("model.init_gains needs one gain per layer after the input (", model.sizes.size() - 1, "), got ",
                 model.init_gains.size(), " (or leave it empty for init_gain everywhere)");
    for (std::size_t k = 0; k < model.init_gains.size(); ++k)
      if (!(std::isfinite(model.init_gains[k]) && model.init_gains[k] > 0))
        return bad("model.init_gains[", k, "] must be positive, got ", model.init_gains[k]);
    if (model.scalar != "float" && model.scalar != "double")
      return bad("model.scalar must be \"float\" or \"double\", got \"", model.scalar, "\"");
    const int files = !data.train_images.empty() + !data.train_labels.empty() + !data.test_images.empty() +
                      !data.test_labels.empty();
    for (auto [value, name] : {std::pair{&data.dir, "data.dir"}, std::pair{&data.train_images, "data.train_images"},
                               std::pair{&data.train_labels, "data.train_labels"},
                               std::pair{&data.test_images, "data.test_images"},
                               std::pair{&data.test_labels, "data.test_labels"}, std::pair{&output.dir, "output.dir"}})
      if (value->find('\0') != std::string::npos) return bad(name, " must not contain a NUL character");
    if (files != 0 && files != 4)
      return bad("data.train_images, data.train_labels, data.test_images and data.test_labels go together: give all "
                 "four or none (then data.dir is used)");
    if (data.train_size < 0) return bad("data.train_size must be ≥ 0 (0 = all), got ", data.train_size);
    if (data.test_size < 0) return bad("data.test_size must be ≥ 0 (0 = all), got ", data.test_size);
    if (data.validation_size < 0) return bad("data.validation_size must be ≥ 0, got ", data.validation_size);
    if (data.eval_train_size < 0) return bad("data.eval_train_size must be ≥ 0 (0 = all), got ", data.eval_train_size);
    if (data.batch_size < 1) return bad("data.batch_size must be ≥ 1, got ", data.batch_size);
    if (data.batch_size > kMaxBatch)
      return bad("data.batch_size = ", data.batch_size, " is beyond the limit of ", kMaxBatch);
    if (data.epochs < 0) return bad("data.epochs must be ≥ 0, got ", data.epochs);
    for (auto [o, name] : {std::pair{&relax_free, "relax.free"}, std::pair{&relax_nudged, "relax.nudged"}}) {
      std::string inner;
      if (!o->is_valid(&inner)) {
        // RelaxOptions names its fields "relax.x"; here they live in relax.free / relax.nudged.
        for (std::size_t at = inner.find("relax."); at != std::string::npos; at = inner.find("relax.", at + 1)) {
          inner.replace(at, 6, std::string(name) + ".");
          at += std::string(name).size();
        }
        return bad(inner);
      }
      if (model.activation.kind() == Activation::Kind::hard_sigmoid && o->method != Method::euler &&
          o->method != Method::fixed_point)
        return bad(name, ".method = ", to_string(o->method),
                   " needs a smooth energy, but model.activation = hard_sigmoid clips states; use euler or "
                   "fixed_point, or a smooth activation");
    }
    if (estimator.kind != "ep" && estimator.kind != "chl" && estimator.kind != "early_inference")
      return bad("estimator.kind must be ep, chl or early_inference, got \"", estimator.kind, "\"");
    if (!(std::isfinite(estimator.beta) && estimator.beta > 0))
      return bad("estimator.beta must be positive and finite, got ", estimator.beta);
    if (!(estimator.gamma > 0 && estimator.gamma <= 1)) return bad("estimator.gamma must be in (0, 1], got ", estimator.gamma);
    if (!(std::isfinite(estimator.dt) && estimator.dt > 0)) return bad("estimator.dt must be positive, got ", estimator.dt);
    if (estimator.steps < 0) return bad("estimator.steps must be ≥ 0 (0 = one per layer), got ", estimator.steps);
    if (estimator.cost != "squared_error" && estimator.cost != "cross_entropy")
      return bad("estimator.cost must be squared_error or cross_entropy, got \"", estimator.cost, "\"");
    std::string inner;
    if (!optimizer.is_valid(&inner)) return bad(inner);
    if (parallel.threads < 0) return bad("parallel.threads must be ≥ 0 (0 = all cores), got ", parallel.threads);
    if (parallel.threads > kMaxThreads)
      return bad("parallel.threads = ", parallel.threads, " is beyond the limit of ", kMaxThreads);
    if (parallel.chunk < 1) return bad("parallel.chunk must be ≥ 1, got ", parallel.chunk);
    if (parallel.chunk > kMaxBatch) return bad("parallel.chunk = ", parallel.chunk, " is beyond the limit of ", kMaxBatch);
    if (output.dir.empty()) return bad("output.dir must not be empty");
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

namespace detail {

/// Reads typed fields out of one TOML table, remembering which keys it consumed so that the
/// rest can be reported as unknown.
class TomlFields {
 public:
  TomlFields(const toml::table* table, std::string prefix) : table_(table), prefix_(std::move(prefix)) {}

  std::string field(std::string_view key) const { return prefix_ + std::string(key); }

  const toml::node* find(std::string_view key) {
    seen_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }
  void get(std::string_view key, double& out) {
    if (const toml::node* n = find(key)) {
      if (auto v = n->value_exact<double>()) out = *v;
      else if (auto i = n->value_exact<std::int64_t>()) out = double(*i);
      else throw InvalidOptions(field(key) + " must be a number");
    }
  }
  template <class I>
    requires std::integral<I>
  void get(std::string_view key, I& out) {
    if (const toml::node* n = find(key)) {
      auto v = n->value_exact<std::int64_t>();
      if (!v) throw InvalidOptions(field(key) + " must be an integer");
      if constexpr (std::is_unsigned_v<I>)
        if (*v < 0) throw InvalidOptions(field(key) + " must be ≥ 0, got " + std::to_string(*v));
      if constexpr (std::is_same_v<I, bool>) throw InvalidOptions(field(key) + " must be true or false");
      if constexpr (!std::is_same_v<I, bool>) {
        // A value the field cannot hold would wrap silently (4294967297 threads would be 1).
        if (!std::in_range<I>(*v)) throw InvalidOptions(field(key) + " = " + std::to_string(*v) + " is out of range");
        out = I(*v);
      }
    }
  }
  void get_bool(std::string_view key, bool& out) {
    if (const toml::node* n = find(key)) {
      auto v = n->value_exact<bool>();
      if (!v) throw InvalidOptions(field(key) + " must be true or false");
      out = *v;
    }
  }
  void get(std::string_view key, std::string& out) {
    if (const toml::node* n = find(key)) {
      auto v = n->value_exact<std::string>();
      if (!v) throw InvalidOptions(field(key) + " must be a string");
      out = *v;
    }
  }
  /// A string turned into an enum by `parse`; its complaint is prefixed with the field.
  template <class E, class Parse>
  void get_enum(std::string_view key, E& out, Parse parse) {
    std::string s;
    if (!find(key)) return;
    get(key, s);
    try {
      out = parse(s);
    } catch (const InvalidOptions& e) {
      throw InvalidOptions(field(key) + ": " + e.what());
    }
  }
  template <class V>
  void get_array(std::string_view key, std::vector<V>& out) {
    const toml::node* n = find(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) throw InvalidOptions(field(key) + " must be an array");
    std::vector<V> values;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if constexpr (std::is_floating_point_v<V>) {
        if (auto d = e.value_exact<double>()) values.push_back(V(*d));
        else if (auto k = e.value_exact<std::int64_t>()) values.push_back(V(*k));
        else throw InvalidOptions(field(key) + "[" + std::to_string(i) + "] must be a number");
      } else {
        auto k = e.value_exact<std::int64_t>();
        if (!k) throw InvalidOptions(field(key) + "[" + std::to_string(i) + "] must be an integer");
        values.push_back(V(*k));
      }
    }
    out = std::move(values);
  }
  /// Throws for the first key of the table that no get() asked for (sub-tables listed in `nested` excepted).
  void reject_unknown(std::initializer_list<std::string_view> nested = {}) const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      const std::string k(key.str());
      if (seen_.count(k)) continue;
      bool is_nested = false;
      for (std::string_view n : nested) is_nested = is_nested || n == k;
      if (!is_nested) throw InvalidOptions("unknown config key '" + field(k) + "'");
    }
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::set<std::string> seen_;
};

inline void read_relax(const toml::table* t, const std::string& prefix, RelaxOptions& o) {
  TomlFields f(t, prefix);
  f.get_enum("method", o.method, parse_method);
  f.get("dt", o.dt);
  f.get("t_max", o.t_max);
  f.get("max_steps", o.max_steps);
  f.get("grad_tol", o.grad_tol);
  f.get("abs_tol", o.abs_tol);
  f.get("rel_tol", o.rel_tol);
  f.get("max_dt", o.max_dt);
  // The training default sweeps layers alternately, which only fixed_point does: a table that
  // picks another method without a schedule means the synchronous one.
  if (o.method != Method::fixed_point) o.schedule = Schedule::synchronous;
  f.get_enum("schedule", o.schedule, parse_schedule);
  f.get("divergence_bound", o.divergence_bound);
  f.get_enum("on_divergence", o.on_divergence, [](std::string_view s) {
    if (s == "throw") return OnDivergence::throw_error;
    if (s == "stop") return OnDivergence::stop;
    throw InvalidOptions("unknown on_divergence '" + std::string(s) + "' (expected throw or stop)");
  });
  f.reject_unknown();
}

inline const toml::table* subtable(const toml::table& t, std::string_view key, const std::string& field) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) throw InvalidOptions("config key '" + field + "' must be a table ([" + field + "])");
  return n->as_table();
}

inline toml::table relax_table(const RelaxOptions& o) {
  return toml::table{{"method", std::string(to_string(o.method))},
                     {"dt", o.dt},
                     {"t_max", o.t_max},
                     {"max_steps", std::int64_t(o.max_steps)},
                     {"grad_tol", o.grad_tol},
                     {"abs_tol", o.abs_tol},
                     {"rel_tol", o.rel_tol},
                     {"max_dt", o.max_dt},
                     {"schedule", std::string(to_string(o.schedule))},
                     {"divergence_bound", o.divergence_bound},
                     {"on_divergence", o.on_divergence == OnDivergence::stop ? "stop" : "throw"}};
}

}  // namespace detail

/// Builds a TrainConfig from a parsed TOML table (defaults for what it leaves out) and validates it.
inline TrainConfig config_from_toml(const toml::table& root) {
  using detail::TomlFields;
  TrainConfig c;
  TomlFields top(&root, "");
  {
    TomlFields f(detail::subtable(root, "model", "model"), "model.");
    top.find("model");
    f.get_array("sizes", c.model.sizes);
    f.get_enum("activation", c.model.activation, [](std::string_view s) { return Activation::parse(s); });
    f.get("init_seed", c.model.init_seed);
    f.get("init", c.model.init);
    f.get("init_gain", c.model.init_gain);
    f.get_array("init_gains", c.model.init_gains);
    f.get("scalar", c.model.scalar);
    f.reject_unknown();
  }
  {
    TomlFields f(detail::subtable(root, "data", "data"), "data.");
    top.find("data");
    f.get("dir", c.data.dir);
    f.get("train_images", c.data.train_images);
    f.get("train_labels", c.data.train_labels);
    f.get("test_images", c.data.test_images);
    f.get("test_labels", c.data.test_labels);
    f.get("train_size", c.data.train_size);
    f.get("test_size", c.data.test_size);
    f.get("validation_size", c.data.validation_size);
    f.get("eval_train_size", c.data.eval_train_size);
    f.get("batch_size", c.data.batch_size);
    f.get("epochs", c.data.epochs);
    f.get("seed", c.data.seed);
    f.reject_unknown();
  }
  if (const toml::table* relax = detail::subtable(root, "relax", "relax")) {
    top.find("relax");
    TomlFields f(relax, "relax.");
    f.find("free");
    f.find("nudged");
    f.get_enum("on_unconverged", c.on_unconverged, parse_on_unconverged);
    detail::read_relax(detail::subtable(*relax, "free", "relax.free"), "relax.free.", c.relax_free);
    detail::read_relax(detail::subtable(*relax, "nudged", "relax.nudged"), "relax.nudged.", c.relax_nudged);
    f.reject_unknown();
  }
  {
    TomlFields f(detail::subtable(root, "estimator", "estimator"), "estimator.");
    top.find("estimator");
    f.get("kind", c.estimator.kind);
    f.get_enum("variant", c.estimator.variant, parse_ep_variant);
    f.get("beta", c.estimator.beta);
    f.get("cost", c.estimator.cost);
    f.get("gamma", c.estimator.gamma);
    f.get("dt", c.estimator.dt);
    f.get("steps", c.estimator.steps);
    f.reject_unknown();
  }
  {
    TomlFields f(detail::subtable(root, "optimizer", "optimizer"), "optimizer.");
    top.find("optimizer");
    f.get_enum("method", c.optimizer.method, parse_optimizer_method);
    f.get("learning_rate", c.optimizer.learning_rate);
    f.get_array("learning_rates", c.optimizer.learning_rates);
    f.get("momentum", c.optimizer.momentum);
    f.get("beta1", c.optimizer.beta1);
    f.get("beta2", c.optimizer.beta2);
    f.get("epsilon", c.optimizer.epsilon);
    f.get("divergence_bound", c.optimizer.divergence_bound);
    f.reject_unknown();
  }
  {
    TomlFields f(detail::subtable(root, "parallel", "parallel"), "parallel.");
    top.find("parallel");
    f.get("threads", c.parallel.threads);
    f.get("chunk", c.parallel.chunk);
    f.get_bool("tiled_update", c.parallel.tiled_update);
    f.reject_unknown();
  }
  {
    TomlFields f(detail::subtable(root, "output", "output"), "output.");
    top.find("output");
    f.get("dir", c.output.dir);
    f.get_bool("checkpoint", c.output.checkpoint);
    f.reject_unknown();
  }
  top.reject_unknown();
  c.validate();
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

/// Reads a config file; errors name the file and the field.
inline TrainConfig read_config(const std::filesystem::path& path) {
  const toml::table root = parse_toml_file(path);
  try {
    return config_from_toml(root);
  } catch (const InvalidOptions& e) {
    throw InvalidOptions(path.string() + ": " + e.what());
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

/// The configuration as a TOML table (every field, defaults included: the run's full record).
inline toml::table config_to_toml(const TrainConfig& c) {
  toml::array sizes;
  for (Index n : c.model.sizes) sizes.push_back(std::int64_t(n));
  toml::array init_gains;
  for (double g : c.model.init_gains) init_gains.push_back(g);
  toml::array rates;
  for (double r : c.optimizer.learning_rates) rates.push_back(r);
  return toml::table{
      {"model", toml::table{{"sizes", sizes},
                            {"activation", std::string(c.model.activation.name())},
                            {"init_seed", std::int64_t(c.model.init_seed)},
                            {"init", c.model.init},
                            {"init_gain", c.model.init_gain},
                            {"init_gains", init_gains},
                            {"scalar", c.model.scalar}}},
      {"data", toml::table{{"dir", c.data.dir},
                           {"train_images", c.data.train_images},
                           {"train_labels", c.data.train_labels},
                           {"test_images", c.data.test_images},
                           {"test_labels", c.data.test_labels},
                           {"train_size", std::int64_t(c.data.train_size)},
                           {"test_size", std::int64_t(c.data.test_size)},
                           {"validation_size", std::int64_t(c.data.validation_size)},
                           {"eval_train_size", std::int64_t(c.data.eval_train_size)},
                           {"batch_size", std::int64_t(c.data.batch_size)},
                           {"epochs", std::int64_t(c.data.epochs)},
                           {"seed", std::int64_t(c.data.seed)}}},
      {"relax", toml::table{{"on_unconverged", std::string(to_string(c.on_unconverged))},
                            {"free", detail::relax_table(c.relax_free)},
                            {"nudged", detail::relax_table(c.relax_nudged)}}},
      {"estimator", toml::table{{"kind", c.estimator.kind},
                                {"variant", std::string(to_string(c.estimator.variant))},
                                {"beta", c.estimator.beta},
                                {"cost", c.estimator.cost},
                                {"gamma", c.estimator.gamma},
                                {"dt", c.estimator.dt},
                                {"steps", std::int64_t(c.estimator.steps)}}},
      {"optimizer", toml::table{{"method", std::string(to_string(c.optimizer.method))},
                                {"learning_rate", c.optimizer.learning_rate},
                                {"learning_rates", rates},
                                {"momentum", c.optimizer.momentum},
                                {"beta1", c.optimizer.beta1},
                                {"beta2", c.optimizer.beta2},
                                {"epsilon", c.optimizer.epsilon},
                                {"divergence_bound", c.optimizer.divergence_bound}}},
      {"parallel", toml::table{{"threads", std::int64_t(c.parallel.threads)},
                               {"chunk", std::int64_t(c.parallel.chunk)},
                               {"tiled_update", c.parallel.tiled_update}}},
      {"output", toml::table{{"dir", c.output.dir}, {"checkpoint", c.output.checkpoint}}},
  };
}

/// The configuration as TOML text.
inline std::string config_to_string(const TrainConfig& c) {
  std::ostringstream o;
  o << config_to_toml(c) << '\n';
  return o.str();
}

}  // namespace ebm
