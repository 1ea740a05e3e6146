// The built-in model kinds as Python classes: LayeredHopfield (double) and LayeredHopfieldFloat
// (float), XieSeung, PredictiveCoding and ConvHopfield (double). Each is built from its kind's declared options (the [model] table
// of the config file, as keyword arguments), exactly as the tool builds it.
#include "models/conv_hopfield.hpp"
#include "models/predictive_coding.hpp"
#include "python/src/bind_model.hpp"
#include "training/checkpoint.hpp"

namespace ebm::python {

namespace {

/// The kind's options from keyword arguments (named as model.<field> in errors).
template <class Kind>
typename Kind::Options kind_options(const py::kwargs& kwargs) {
  return options_from<typename Kind::Options>(kwargs, "model.");
}

template <class T>
void bind_layered_hopfield(py::module_& m, const char* name) {
  using M = LayeredHopfield<T>;
  py::class_<M> c(m, name,
                  "Layered Hopfield network (Scellier & Bengio 2017), E = 1/2 sum |s_k|^2 - sum rho(s_k)^T W_k "
                  "rho(s_{k-1}) - sum b_k^T rho(s_k); built from the options of model.kind = 'layered_hopfield' "
                  "(sizes, activation, init_seed, init, init_gain, init_gains).");
  c.def(py::init([](const py::kwargs& kwargs) { return LayeredHopfieldKind::make<T>(kind_options<LayeredHopfieldKind>(kwargs)); }))
      .def_property_readonly("kind", [](const M&) { return std::string(LayeredHopfieldKind::name); })
      .def_property_readonly("sizes", [](const M& n) { return n.sizes(); })
      .def_property_readonly("activation", [](const M& n) { return std::string(n.activation().name()); })
      .def("__repr__", [name](const M& n) {
        std::string s = std::string("ebm.") + name + "(sizes=[";
        for (std::size_t k = 0; k < n.sizes().size(); ++k) s += (k ? ", " : "") + std::to_string(n.sizes()[k]);
        return s + "], activation='" + std::string(n.activation().name()) + "')";
      });
  bind_parameters(c);
  bind_energy_members(c);
}

void bind_xie_seung(py::module_& m) {
  using M = XieSeungNetwork<double>;
  py::class_<M> c(m, "XieSeung",
                  "Xie & Seung (2003) network: feed-forward weights, feedback scaled by gamma, linear output; no "
                  "energy (CHL only). Built from the options of model.kind = 'xie_seung' (sizes, activation, gamma, "
                  "init_seed, init_gain).");
  c.def(py::init([](const py::kwargs& kwargs) { return XieSeungKind::make<double>(kind_options<XieSeungKind>(kwargs)); }))
      .def_property_readonly("kind", [](const M&) { return std::string(XieSeungKind::name); })
      .def_property_readonly("gamma", [](const M& n) { return n.gamma(); })
      .def("feedforward", [](const M& n, ConstRef<double> x) { return n.feedforward(x); }, py::arg("x"),
           "the feed-forward pass (the free fixed point at gamma = 0)")
      .def("backprop_gradient", [](const M& n, ConstRef<double> x, ConstRef<double> d) { return n.backprop_gradient(x, d); },
           py::arg("x"), py::arg("target"), "backprop through the feed-forward pass (sum over the batch)")
      .def(
          "relax",
          [](const M& n, ConstRef<double> x, std::optional<Matrix<double>> s0, const py::object& options) {
            const RelaxOptions o = options_from<RelaxOptions>(options, "relax.");
            Matrix<double> s = s0 ? std::move(*s0) : Matrix<double>::Zero(n.state_size(), x.cols());
            RelaxSummary summary;
            {
              py::gil_scoped_release nogil;
              summary = n.relax_free(x, s, o);
            }
            return py::make_tuple(std::move(s), summary, py::none());
          },
          py::arg("x"), py::arg("s") = py::none(), py::arg("options") = py::none(),
          "(s, summary, None): the free phase at the network's gamma (no energy, so no trace)");
  bind_parameters(c);
  bind_estimate(c);
}

void bind_predictive_coding(py::module_& m) {
  using M = PredictiveCoding<double>;
  py::class_<M> c(m, "PredictiveCoding",
                  "Predictive coding network (Whittington & Bogacz 2017), F = sum_l |x_l - W_l f(x_{l-1}) - b_l|^2 / "
                  "(2 Sigma_l); built from the options of model.kind = 'predictive_coding' (sizes, activation, "
                  "hidden_variance, output_variance, variances, init_seed, init, init_gain, init_gains).");
  c.def(py::init([](const py::kwargs& kwargs) {
     return PredictiveCodingKind::make<double>(kind_options<PredictiveCodingKind>(kwargs));
   }))
      .def_property_readonly("kind", [](const M&) { return std::string(PredictiveCodingKind::name); })
      .def_property_readonly("sizes", [](const M& n) { return n.sizes(); })
      .def_property_readonly("activation", [](const M& n) { return std::string(n.activation().name()); });
  bind_parameters(c);
  bind_energy_members(c);
}

void bind_conv_hopfield(py::module_& m) {
  using M = ConvHopfield<double>;
  py::class_<M> c(m, "ConvHopfield",
                  "Convolutional Hopfield network (Ernoult et al. 2019; Laborieux et al. 2021), convolutions with "
                  "pooling inside the energy then dense layers, weights tied; built from the options of model.kind "
                  "= 'conv_hopfield' (input_shape, channels, kernels, paddings, pools, pooling, dense, activation, "
                  "init_seed, init_gain, init_gains). States and inputs are columns, channel-fastest.");
  c.def(py::init([](const py::kwargs& kwargs) {
     return ConvHopfieldKind::make<double>(kind_options<ConvHopfieldKind>(kwargs));
   }))
      .def_property_readonly("kind", [](const M&) { return std::string(ConvHopfieldKind::name); })
      .def_property_readonly("activation", [](const M& n) { return std::string(n.activation().name()); });
  bind_parameters(c);
  bind_energy_members(c);
}

}  // namespace

void bind_builtin_models(py::module_& m) {
  bind_layered_hopfield<double>(m, "LayeredHopfield");
  bind_layered_hopfield<float>(m, "LayeredHopfieldFloat");
  bind_xie_seung(m);
  bind_predictive_coding(m);
  bind_conv_hopfield(m);
}

}  // namespace ebm::python
