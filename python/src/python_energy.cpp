// An energy written in Python: ebm.PythonEnergy wraps NumPy functions of (s, x, theta) as an
// ebm::EnergyModel, so that it relaxes under every solver, samples under Langevin dynamics and
// trains by EP (and CHL, early inference, stochastic EP) like the C++ models. The slow, flexible
// path for prototyping: every gradient is a call into Python (the GIL taken for it), and the
// arrays passed are copies.
#include "learning/equilibrium_prop.hpp"
#include "python/src/bind_model.hpp"
#include "python/src/callbacks.hpp"
#include "training/optimizer.hpp"
#include "training/trainer.hpp"

namespace ebm::python {

/// E(s, x; theta) given by Python functions. energy(s, x, theta) returns E per example (batch,);
/// state_gradient(s, x, theta) dE/ds (the shape of s); param_gradient(s, x, theta) the sum over
/// the batch of dE/dtheta (the shape of theta). s is state_size x batch, x input_size x batch.
class PythonEnergy {
 public:
  using Scalar = double;

  PythonEnergy(Index state_size, Index input_size, py::object energy, py::object state_gradient,
               py::object param_gradient, Vector<double> params, std::vector<Index> layers, Index output_size,
               std::vector<ParamBlock> blocks, py::object hessian_vector = py::none(),
               py::object mixed_vector = py::none())
      : state_size_(state_size),
        input_size_(input_size),
        energy_(std::move(energy)),
        state_gradient_(std::move(state_gradient)),
        param_gradient_(std::move(param_gradient)),
        hessian_vector_(std::move(hessian_vector)),
        mixed_vector_(std::move(mixed_vector)),
        params_(std::move(params)),
        blocks_(std::move(blocks)) {
    require<InvalidOptions>(state_size > 0, "PythonEnergy: state_size must be positive, got ", state_size);
    require<InvalidOptions>(input_size >= 0, "PythonEnergy: input_size must be ≥ 0, got ", input_size);
    require<InvalidOptions>(PyCallable_Check(energy_.ptr()), "PythonEnergy: energy must be callable");
    require<InvalidOptions>(PyCallable_Check(state_gradient_.ptr()), "PythonEnergy: state_gradient must be callable");
    if (layers.empty()) layers = {state_size};
    Index row = 0;
    for (Index size : layers) {
      require<InvalidOptions>(size > 0, "PythonEnergy: every layer needs units, got ", size);
      layers_.push_back({row, size});
      row += size;
    }
    require<InvalidOptions>(row == state_size, "PythonEnergy: the layers hold ", row, " units but state_size is ",
                            state_size);
    if (output_size <= 0) output_size = layers_.back().size;
    require<InvalidOptions>(output_size <= state_size, "PythonEnergy: output_size ", output_size,
                            " exceeds state_size ", state_size);
    output_ = {state_size - output_size, output_size};
    if (blocks_.empty() && params_.size() > 0) blocks_.push_back({"theta", 0, params_.size(), 1});
    Index n = 0;
    for (const ParamBlock& b : blocks_) {
      require<InvalidOptions>(b.offset == n && b.size() > 0, "PythonEnergy: parameter block '", b.name,
                              "' must start at ", n, " and hold entries");
      n += b.size();
    }
    require<InvalidOptions>(n == params_.size(), "PythonEnergy: the parameter blocks hold ", n,
                            " entries but params has ", params_.size());
  }
  PythonEnergy(const PythonEnergy& o) {
    py::gil_scoped_acquire gil;
    copy_from(o);
  }
  PythonEnergy& operator=(const PythonEnergy& o) {
    py::gil_scoped_acquire gil;
    copy_from(o);
    return *this;
  }
  ~PythonEnergy() {
    py::gil_scoped_acquire gil;
    energy_ = state_gradient_ = param_gradient_ = hessian_vector_ = mixed_vector_ = py::object();
  }

  Index state_size() const { return state_size_; }
  Index input_size() const { return input_size_; }
  Block output_block() const { return output_; }
  std::vector<Block> layer_blocks() const { return layers_; }
  Vector<double>& params() { return params_; }
  const Vector<double>& params() const { return params_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }

  RowVector<double> energy(ConstRef<double> s, ConstRef<double> x) const {
    py::gil_scoped_acquire gil;
    const auto e = energy_(Matrix<double>(s), Matrix<double>(x), theta()).cast<Eigen::VectorXd>();
    require<DimensionMismatch>(e.size() == s.cols(), "PythonEnergy: energy returned ", e.size(),
                               " values for a batch of ", s.cols());
    return e.transpose();
  }
  void state_gradient(ConstRef<double> s, ConstRef<double> x, MutRef<double> g) const {
    py::gil_scoped_acquire gil;
    const auto r = state_gradient_(Matrix<double>(s), Matrix<double>(x), theta()).cast<Matrix<double>>();
    require<DimensionMismatch>(r.rows() == s.rows() && r.cols() == s.cols(), "PythonEnergy: state_gradient returned a ",
                               r.rows(), " x ", r.cols(), " array for a state of ", s.rows(), " x ", s.cols());
    g = r;
  }
  void param_gradient(ConstRef<double> s, ConstRef<double> x, VectorRef<double> g) const {
    py::gil_scoped_acquire gil;
    require<InvalidOptions>(!param_gradient_.is_none(),
                            "PythonEnergy: no param_gradient was given, which learning rules need");
    const auto r = param_gradient_(Matrix<double>(s), Matrix<double>(x), theta()).cast<Eigen::VectorXd>();
    require<DimensionMismatch>(r.size() == params_.size(), "PythonEnergy: param_gradient returned ", r.size(),
                               " values for ", params_.size(), " parameters");
    g = r;
  }
  /// (∂²E/∂s²)v per example, from the optional hessian_vector(s, x, theta, v): what the exact
  /// gradient (recurrent_backprop) and BPTT need.
  void hessian_vector(ConstRef<double> s, ConstRef<double> x, ConstRef<double> v, MutRef<double> hv) const {
    py::gil_scoped_acquire gil;
    require<InvalidOptions>(!hessian_vector_.is_none(),
                            "PythonEnergy: no hessian_vector was given, which the exact gradient and BPTT need");
    const auto r = hessian_vector_(Matrix<double>(s), Matrix<double>(x), theta(), Matrix<double>(v)).cast<Matrix<double>>();
    require<DimensionMismatch>(r.rows() == s.rows() && r.cols() == s.cols(), "PythonEnergy: hessian_vector returned a ",
                               r.rows(), " x ", r.cols(), " array for a state of ", s.rows(), " x ", s.cols());
    hv = r;
  }
  /// Σ over the batch of (∂²E/∂s∂θ)ᵀv, from the optional mixed_vector(s, x, theta, v).
  void mixed_vector(ConstRef<double> s, ConstRef<double> x, ConstRef<double> v, VectorRef<double> g) const {
    py::gil_scoped_acquire gil;
    require<InvalidOptions>(!mixed_vector_.is_none(),
                            "PythonEnergy: no mixed_vector was given, which the exact gradient and BPTT need");
    const auto r = mixed_vector_(Matrix<double>(s), Matrix<double>(x), theta(), Matrix<double>(v)).cast<Eigen::VectorXd>();
    require<DimensionMismatch>(r.size() == params_.size(), "PythonEnergy: mixed_vector returned ", r.size(),
                               " values for ", params_.size(), " parameters");
    g = r;
  }

 private:
  /// A read-only view of θ for the Python functions (no copy; valid during the call).
  py::array_t<double> theta() const {
    py::array_t<double> a({params_.size()}, {py::ssize_t(sizeof(double))}, params_.data(), py::none());
    py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return a;
  }
  void copy_from(const PythonEnergy& o) {
    state_size_ = o.state_size_;
    input_size_ = o.input_size_;
    energy_ = o.energy_;
    state_gradient_ = o.state_gradient_;
    param_gradient_ = o.param_gradient_;
    hessian_vector_ = o.hessian_vector_;
    mixed_vector_ = o.mixed_vector_;
    params_ = o.params_;
    blocks_ = o.blocks_;
    layers_ = o.layers_;
    output_ = o.output_;
  }

  Index state_size_ = 0, input_size_ = 0;
  py::object energy_, state_gradient_, param_gradient_, hessian_vector_, mixed_vector_;
  Vector<double> params_;
  std::vector<ParamBlock> blocks_;
  std::vector<Block> layers_;
  Block output_{};
};

static_assert(check_energy_model<PythonEnergy>() && HasSecondOrder<PythonEnergy>);

namespace {

/// Trains a PythonEnergy by EP on (images, labels) with the Trainer (minibatches, optimizer,
/// evaluation, callbacks), configured by a run config (data, relax, estimator, optimizer,
/// parallel sections).
py::list train_python_energy(PythonEnergy& net, const Matrix<double>& images, const std::vector<int>& labels,
                             const py::object& config, const py::object& callbacks, const py::object& test,
                             const std::string& out) {
  using Rule = cli::EPRule;
  const cli::RunConfig c = run_config(config);
  require<InvalidOptions>(c.estimator.kind == Rule::name, "estimator.kind = \"", c.estimator.kind,
                          "\": a PythonEnergy trains by ep in this build (estimate() runs every rule that applies)");
  require<DimensionMismatch>(Index(labels.size()) == images.cols(), "images have ", images.cols(),
                             " columns but there are ", labels.size(), " labels");
  LabelledImages<double> train, test_set;
  train.images = images;
  train.labels = labels;
  if (!test.is_none()) {
    auto [ti, tl] = test.cast<std::pair<Matrix<double>, std::vector<int>>>();
    test_set.images = std::move(ti);
    test_set.labels = std::move(tl);
  }
  Rule::Options rule_options;
  {
    cli::TableReader r(&c.estimator_options, "estimator.");
    r.read(rule_options);
  }
  const AnyCost<double> cost{c.estimator.cost};
  const auto estimator = Rule::make<PythonEnergy>(rule_options, c, net, cost);
  Optimizer<double> optimizer(c.optimizer, net.param_blocks(), net.params().size());
  TrainerOptions o;
  o.batch_size = c.data.batch_size;
  o.epochs = c.data.epochs;
  o.seed = c.data.seed;
  o.eval_train_size = c.data.eval_train_size;
  o.augment = cli::augmentation(c.data, train);
  o.parallel = c.parallel;
  o.eval_relax = c.relax_free;
  o.out_dir = out;
  o.checkpoint = c.output.checkpoint;
  o.config_text = cli::config_to_string(c);
  o.model_kind = "python_energy";
  o.nudged_grad_tol = c.relax_nudged.grad_tol;
  o.on_unconverged = c.relax.on_unconverged;
  Trainer<PythonEnergy, std::remove_cvref_t<decltype(estimator)>, AnyCost<double>> trainer(net, estimator, optimizer, o,
                                                                                          cost);
  auto history = std::make_shared<History>();
  trainer.add_callback(history);
  const auto added = python_callbacks(callbacks);
  for (const auto& cb : added) trainer.add_callback(cb);
  {
    py::gil_scoped_release nogil;
    trainer.run(train, nullptr, test.is_none() ? nullptr : &test_set);
  }
  py::list l;
  for (const EpochMetrics& m : history->epochs) l.append(metrics_dict(m));
  return l;
}

}  // namespace

void bind_python_energy(py::module_& m) {
  py::class_<PythonEnergy> c(
      m, "PythonEnergy",
      "An energy written in Python (the slow, flexible path for prototyping): energy(s, x, theta) -> E per "
      "example, state_gradient(s, x, theta) -> dE/ds, param_gradient(s, x, theta) -> sum over the batch of "
      "dE/dtheta; s is state_size x batch, x input_size x batch, theta the params (read-only view). Relaxes "
      "under every solver, samples under Langevin, and trains by EP.");
  c.def(py::init([](Index state_size, Index input_size, py::object energy, py::object state_gradient,
                    py::object param_gradient, std::optional<Vector<double>> params, std::vector<Index> layers,
                    Index output_size, const py::object& blocks, py::object hessian_vector, py::object mixed_vector) {
          std::vector<ParamBlock> b;
          if (!blocks.is_none())
            for (const py::handle item : blocks) {
              auto [name, offset, rows, cols] = item.cast<std::tuple<std::string, Index, Index, Index>>();
              b.push_back({name, offset, rows, cols});
            }
          return PythonEnergy(state_size, input_size, std::move(energy), std::move(state_gradient),
                              std::move(param_gradient), params ? std::move(*params) : Vector<double>(), std::move(layers),
                              output_size, std::move(b), std::move(hessian_vector), std::move(mixed_vector));
        }),
        py::arg("state_size"), py::arg("input_size"), py::arg("energy"), py::arg("state_gradient"),
        py::arg("param_gradient") = py::none(), py::arg("params") = py::none(),
        py::arg("layers") = std::vector<Index>{}, py::arg("output_size") = 0, py::arg("blocks") = py::none(),
        py::arg("hessian_vector") = py::none(), py::arg("mixed_vector") = py::none(),
        "layers: units per layer (default one layer of state_size); output_size: the last units of s that the cost "
        "reads (default the last layer); blocks: [(name, offset, rows, cols)] (default one block 'theta'); "
        "hessian_vector(s, x, theta, v) -> (d2E/ds2) v and mixed_vector(s, x, theta, v) -> sum over the batch of "
        "(d2E/ds dtheta)^T v, optional: what the exact gradient (recurrent_backprop, implicit_gradient) and bptt "
        "need")
      .def_property_readonly("kind", [](const PythonEnergy&) { return std::string("python_energy"); })
      .def("train", &train_python_energy, py::arg("images"), py::arg("labels"), py::arg("config") = py::none(),
           py::arg("callbacks") = py::none(), py::arg("test") = py::none(), py::arg("out") = "",
           "trains by EP in place on images (inputs x examples) and labels (ints), configured as the tool's config "
           "file (data.batch_size, data.epochs, data.seed, relax.free, relax.nudged, estimator, optimizer, "
           "parallel); test: (images, labels) evaluated after each epoch; out: a directory for metrics.csv and "
           "checkpoint.bin (empty: none). Returns the list of epoch metrics.");
  bind_parameters(c);
  bind_energy_members(c);
}

}  // namespace ebm::python
