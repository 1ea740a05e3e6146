// The tool's front door from Python: training any registered model by any rule from a config
// (dict or TOML text) through the registry that `ebm train` uses (compiled once, in ebm_tool),
// with Python callbacks per epoch; the gradient checker with its report and verdict;
// checkpoints; the data sets; the config's defaults.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/tool.hpp"
#include "data/fashion_mnist.hpp"
#include "data/split.hpp"
#include "models/conv_hopfield.hpp"
#include "models/layered_hopfield.hpp"
#include "models/predictive_coding.hpp"
#include "models/xie_seung.hpp"
#include "python/src/callbacks.hpp"
#include "training/checkpoint.hpp"

namespace ebm::python {

namespace fs = std::filesystem;

namespace {

/// Sends std::cout to a string (or nowhere) for the scope, restoring it after.
class CoutCapture {
 public:
  explicit CoutCapture(bool active) : active_(active) {
    if (active_) old_ = std::cout.rdbuf(text_.rdbuf());
  }
  ~CoutCapture() {
    if (active_) std::cout.rdbuf(old_);
  }
  std::string text() const { return text_.str(); }

 private:
  bool active_;
  std::ostringstream text_;
  std::streambuf* old_ = nullptr;
};

toml::table with_overrides(toml::table root, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) cli::apply_override(root, o);
  return root;
}

py::dict train(const py::object& config, const std::vector<std::string>& set, const py::object& callbacks,
               const std::string& resume, const std::string& out, bool verbose) {
  toml::table root = with_overrides(config_table(config), set);
  if (!out.empty()) cli::apply_override(root, "output.dir=\"" + out + "\"");
  const cli::RunConfig c = cli::config_from_toml(root, cli::Registry::instance(), true);
  fs::create_directories(c.output.dir);
  remove_stale_temporaries(fs::path(c.output.dir) / "config.toml");
  write_file_atomically(fs::path(c.output.dir) / "config.toml", cli::config_to_string(c));
  cli::CommandArgs args;
  args.resume = resume;
  args.rethrow_faults = true;
  auto history = std::make_shared<History>();
  args.callbacks.push_back(history);
  for (auto& cb : python_callbacks(callbacks)) args.callbacks.push_back(std::move(cb));
  int status = 0;
  {
    py::gil_scoped_release nogil;
    CoutCapture quiet(!verbose);
    status = cli::Registry::instance().model(c.model.kind).train(c, args);
  }
  py::list epochs;
  for (const EpochMetrics& m : history->epochs) epochs.append(metrics_dict(m));
  py::dict d;
  d["status"] = status;
  d["epochs"] = epochs;
  d["out"] = c.output.dir;
  d["checkpoint"] = c.output.checkpoint ? (fs::path(c.output.dir) / "checkpoint.bin").string() : std::string();
  d["config"] = from_toml(cli::config_to_toml(c));
  return d;
}

py::dict gradcheck(const py::object& config, const std::vector<std::string>& set, const std::string& checkpoint,
                   long examples, const std::vector<double>& betas, bool relax_from_config,
                   const std::vector<std::string>& expect, const std::string& out, bool verbose) {
  cli::RunConfig c;
  std::string note;
  if (config.is_none() && !checkpoint.empty()) {
    c = cli::config_of_checkpoint_or(checkpoint, "", set);
  } else {
    auto build = [&](const std::vector<std::string>& overrides) {
      try {
        return cli::config_from_toml(with_overrides(config_table(config), overrides), cli::Registry::instance(), false);
      } catch (const InvalidOptions& e) {
        throw InvalidOptions(std::string("config: ") + e.what());
      }
    };
    c = build(set);
    std::vector<std::string> overrides = set;
    note = cli::smooth_gradcheck_default(c, !config.is_none(), overrides);  // as `ebm gradcheck` does
    if (!note.empty()) c = build(overrides);
  }
  cli::CommandArgs args;
  args.checkpoint = checkpoint;
  args.examples = examples;
  args.betas = betas;
  args.relax_from_config = relax_from_config;
  args.expectations = expect;
  args.out = out;
  int status = 0;
  std::string text;
  {
    py::gil_scoped_release nogil;
    CoutCapture capture(true);
    status = cli::Registry::instance().model(c.model.kind).gradcheck(c, args);
    text = note + capture.text();
  }
  if (verbose) py::print(text, py::arg("end") = "");
  std::ifstream in(fs::path(out) / "gradcheck.json");
  std::stringstream json;
  json << in.rdbuf();
  py::dict d;
  d["passed"] = status == 0;
  d["status"] = status;
  d["text"] = text;
  d["report"] = py::module_::import("json").attr("loads")(json.str());
  d["out"] = out;
  return d;
}

template <class T>
py::dict checkpoint_dict(const Checkpoint<T>& c) {
  py::dict d;
  d["model_kind"] = c.model_kind;
  d["model_options"] = c.model_options.empty() ? py::dict() : from_toml(cli::parse_toml(c.model_options, "model"));
  py::list blocks;
  for (const ParamBlock& b : c.blocks) blocks.append(py::make_tuple(b.name, b.offset, b.rows, b.cols));
  d["blocks"] = blocks;
  d["params"] = Vector<T>(c.params);
  d["scalar"] = sizeof(T) == 4 ? "float" : "double";
  d["epoch"] = c.epoch;
  d["step"] = c.step;
  d["seed"] = c.seed;
  d["config"] = c.config.empty() ? py::dict() : from_toml(cli::parse_toml(c.config, "config"));
  return d;
}

py::dict read_checkpoint_py(const std::string& path) {
  if (checkpoint_scalar_size(path) == 4) return checkpoint_dict(read_checkpoint<float>(path));
  return checkpoint_dict(read_checkpoint<double>(path));
}

/// A model of a built-in kind from a checkpoint (its options and parameters).
template <class Kind, class T>
py::object model_of(const Checkpoint<T>& c, const std::string& path) {
  const toml::table t = c.model_options.empty() ? toml::table{} : cli::parse_toml(c.model_options, path + " (model)");
  auto net = Kind::template make<T>(cli::model_options<Kind>(t));
  require_same_blocks(c.blocks, net.param_blocks(), path);
  net.params() = c.params;
  return py::cast(std::move(net));
}

template <class To, class From>
Checkpoint<To> cast_checkpoint(const Checkpoint<From>& c) {
  Checkpoint<To> d;
  d.model_kind = c.model_kind;
  d.model_options = c.model_options;
  d.blocks = c.blocks;
  d.params = c.params.template cast<To>();
  return d;
}

py::object load_model(const std::string& path, const std::string& scalar) {
  require<InvalidOptions>(scalar.empty() || scalar == "float" || scalar == "double",
                          "scalar must be 'float' or 'double', got '", scalar, "'");
  const bool file_single = checkpoint_scalar_size(path) == 4;
  auto read_as = [&](auto tag) {
    using T = decltype(tag);
    return file_single ? cast_checkpoint<T>(read_checkpoint<float>(path))
                       : cast_checkpoint<T>(read_checkpoint<double>(path));
  };
  const bool single = scalar.empty() ? file_single : scalar == "float";
  const Checkpoint<double> c = read_as(double{});
  if (c.model_kind == LayeredHopfieldKind::name)
    return single ? model_of<LayeredHopfieldKind>(read_as(float{}), path) : model_of<LayeredHopfieldKind>(c, path);
  if (c.model_kind == XieSeungKind::name) return model_of<XieSeungKind>(c, path);
  if (c.model_kind == PredictiveCodingKind::name) return model_of<PredictiveCodingKind>(c, path);
  if (c.model_kind == ConvHopfieldKind::name) return model_of<ConvHopfieldKind>(c, path);
  throw DataError(path + ": model kind '" + c.model_kind + "' has no Python class (built in: " +
                  std::string(LayeredHopfieldKind::name) + ", " + std::string(XieSeungKind::name) + ", " +
                  std::string(PredictiveCodingKind::name) + ", " + std::string(ConvHopfieldKind::name) + ")");
}

/// Writes a LayeredHopfield as the tool's checkpoint (kind, options, blocks, parameters), which
/// `ebm relax`, `ebm gradcheck`, `ebm inspect` and ebm.load_model read.
template <class T>
void save_checkpoint(const LayeredHopfield<T>& net, const std::string& path, long epoch) {
  LayeredHopfieldOptions o;
  o.sizes = net.sizes();
  o.activation = net.activation();
  toml::table t;
  cli::write_fields(o, t);
  t.insert_or_assign("kind", std::string(LayeredHopfieldKind::name));
  std::ostringstream text;
  text << t << '\n';
  Checkpoint<T> c;
  c.model_kind = std::string(LayeredHopfieldKind::name);
  c.model_options = text.str();
  c.blocks = net.param_blocks();
  c.params = net.params();
  c.epoch = epoch;
  write_checkpoint(path, c);
}

template <class T>
py::tuple load_split(const std::string& dir, const std::string& split, long size) {
  LabelledImages<T> d;
  {
    py::gil_scoped_release nogil;
    d = load_fashion_mnist<T>(dir, split);
    if (size > 0) keep_head(d, size);
  }
  return py::make_tuple(std::move(d.images), std::move(d.labels));
}

py::tuple load_dataset(const std::string& dir, const std::string& split, const std::string& scalar, long size) {
  require<InvalidOptions>(split == "train" || split == "t10k" || split == "test",
                          "split must be 'train' or 't10k', got '", split, "'");
  require<InvalidOptions>(scalar == "float" || scalar == "double", "scalar must be 'float' or 'double', got '",
                          scalar, "'");
  const std::string s = split == "test" ? "t10k" : split;
  return scalar == "double" ? load_split<double>(dir, s, size) : load_split<float>(dir, s, size);
}

template <class T>
py::tuple load_idx_pair(const std::string& images, const std::string& labels, long size) {
  LabelledImages<T> d;
  {
    py::gil_scoped_release nogil;
    d = load_idx_dataset<T>(images, labels);
    if (size > 0) keep_head(d, size);
  }
  return py::make_tuple(std::move(d.images), std::move(d.labels));
}

py::dict kinds() {
  py::dict models, rules;
  for (const cli::ModelEntry* m : cli::Registry::instance().models()) {
    py::dict e;
    e["doc"] = m->doc;
    e["rules"] = m->rules;
    models[py::str(m->name)] = e;
  }
  for (const cli::RuleEntry* r : cli::Registry::instance().rules()) rules[py::str(r->name)] = r->doc;
  py::dict d;
  d["models"] = models;
  d["rules"] = rules;
  d["methods"] = std::string(enum_choices<Method>());
  return d;
}

}  // namespace

void bind_tool(py::module_& m) {
  cli::register_builtins();
  m.def("train", &train, py::arg("config") = py::none(), py::arg("set") = std::vector<std::string>{},
        py::arg("callbacks") = py::none(), py::arg("resume") = "", py::arg("out") = "", py::arg("verbose") = true,
        "Trains as `ebm train` does: config is a dict or TOML text laid out as the config file ([model], [data], "
        "[relax.free], [relax.nudged], [estimator], [optimizer], [schedule], [early_stopping], [parallel], "
        "[output]); set: 'section.field=value' overrides; callbacks: a function f(metrics) called after each "
        "epoch (return True to stop), or objects with on_epoch_begin / on_batch / on_epoch_end / on_resume; "
        "resume: a checkpoint to continue from; out: output.dir. Writes config.toml, metrics.csv and "
        "checkpoint.bin there. Returns {status, epochs: [metrics per epoch], out, checkpoint, config}. A "
        "numerical fault raises ebm.TrainingFault (the last good checkpoint stays on disk).");
  m.def("gradcheck", &gradcheck, py::arg("config") = py::none(), py::arg("set") = std::vector<std::string>{},
        py::arg("checkpoint") = "", py::arg("examples") = 4, py::arg("betas") = std::vector<double>{},
        py::arg("relax_from_config") = false, py::arg("expect") = std::vector<std::string>{}, py::arg("out") = "run",
        py::arg("verbose") = false,
        "Runs `ebm gradcheck` (EP, early inference, step by step and CHL against the exact gradient, per layer); "
        "returns {passed, status (0 pass, 3 a check failed), text (the printed report), report (gradcheck.json), "
        "out}.");
  m.def("read_checkpoint", &read_checkpoint_py, py::arg("path"),
        "a checkpoint's contents (every field and its CRC checked): model_kind, model_options, blocks, params, "
        "scalar, epoch, step, seed, config");
  m.def("load_model", &load_model, py::arg("path"), py::arg("scalar") = "",
        "the model a checkpoint holds (LayeredHopfield, LayeredHopfieldFloat or XieSeung) with its parameters; "
        "scalar: 'float' or 'double' (default: the checkpoint's)");
  m.def("save_checkpoint", &save_checkpoint<double>, py::arg("model"), py::arg("path"), py::arg("epoch") = 0,
        "writes a LayeredHopfield as the tool's checkpoint (atomically), for `ebm relax --checkpoint`, "
        "`ebm gradcheck --checkpoint`, `ebm inspect` and ebm.load_model");
  m.def("save_checkpoint", &save_checkpoint<float>, py::arg("model"), py::arg("path"), py::arg("epoch") = 0);
  m.def("load_fashion_mnist", &load_dataset, py::arg("dir") = kDebianFashionMnistDir.string(),
        py::arg("split") = "train", py::arg("scalar") = "float", py::arg("size") = 0,
        "(images, labels): images pixels x examples in [0, 1] (float32 or float64), labels ints; split 'train' or "
        "'t10k'; size: the first n (0: all)");
  m.def(
      "load_idx",
      [](const std::string& images, const std::string& labels, const std::string& scalar, long size) {
        require<InvalidOptions>(scalar == "float" || scalar == "double", "scalar must be 'float' or 'double', got '",
                                scalar, "'");
        return scalar == "double" ? load_idx_pair<double>(images, labels, size) : load_idx_pair<float>(images, labels, size);
      },
      py::arg("images"), py::arg("labels"), py::arg("scalar") = "float", py::arg("size") = 0,
      "(images, labels) from any IDX pair (plain or gzip; MNIST, Fashion-MNIST, your own), as load_fashion_mnist");
  m.def("kinds", &kinds, "the registered model kinds (with the rules that apply to each), rules and methods");
  m.def(
      "config",
      [](const py::object& config, const std::vector<std::string>& set, bool training) {
        return from_toml(cli::config_to_toml(
            cli::config_from_toml(with_overrides(config_table(config), set), cli::Registry::instance(), training)));
      },
      py::arg("config") = py::none(), py::arg("set") = std::vector<std::string>{}, py::arg("training") = true,
      "the effective config (every default filled in, validated) as a dict");
  m.def(
      "config_text",
      [](const py::object& config, const std::vector<std::string>& set) {
        return cli::config_to_string(
            cli::config_from_toml(with_overrides(config_table(config), set), cli::Registry::instance(), false));
      },
      py::arg("config") = py::none(), py::arg("set") = std::vector<std::string>{},
      "the effective config as TOML text (what `ebm train` writes to config.toml)");
  m.def(
      "config_help",
      []() {
        std::ostringstream o;
        cli::print_config_help(o);
        return o.str();
      },
      "every config field with its default and doc (`ebm --help-all`)");
}

}  // namespace ebm::python
