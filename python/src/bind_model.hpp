#pragma once
/// \file
/// The Python class of one model type: sizes, parameters and their blocks as NumPy views (no
/// copies), and, for an energy model, energy and gradients, relax, langevin, every learning rule
/// that applies (through the tool's rule kinds, cli/rules/) and the implicit (exact) gradient.
/// Instantiated once per model type (python/src/layered_hopfield.cpp, python_energy.cpp); the
/// GIL is released while a relaxation or an estimate runs.

#include <string>
#include <tuple>

#include "cli/rules/builtin_rules.hpp"
#include "core/system.hpp"
#include "learning/exact_gradient.hpp"
#include "python/src/common.hpp"
#include "training/checkpoint.hpp"
#include "solvers/langevin.hpp"
#include "solvers/relax.hpp"

namespace ebm::python {

template <class M>
py::tuple block_tuple(const M& net) {
  const Block b = net.output_block();
  return py::make_tuple(b.offset, b.size);
}

/// The members every model has: sizes, parameters and blocks.
template <class M>
void bind_parameters(py::class_<M>& c) {
  using T = typename M::Scalar;
  c.def_property_readonly("scalar", [](const M&) { return sizeof(T) == 4 ? "float" : "double"; },
                          "'float' or 'double': the dtype of params, states and gradients")
      .def_property_readonly("state_size", [](const M& n) { return n.state_size(); }, "free units (rows of s)")
      .def_property_readonly("input_size", [](const M& n) { return n.input_size(); }, "clamped units (rows of x)")
      .def_property_readonly("output_block", &block_tuple<M>, "(offset, size) of the output units in s")
      .def_property_readonly(
          "layer_blocks",
          [](const M& n) {
            py::list l;
            for (const Block& b : n.layer_blocks()) l.append(py::make_tuple(b.offset, b.size));
            return l;
          },
          "[(offset, size)] of each layer in s")
      .def_property(
          "params",
          [](py::object self) {
            M& n = self.cast<M&>();
            return view<T>(n.params().data(), n.params().size(), 1, self, false);
          },
          [](M& n, const Eigen::Ref<const Vector<T>>& v) {
            require<DimensionMismatch>(v.size() == n.params().size(), "params has ", n.params().size(),
                                       " entries, got ", v.size());
            n.params() = v;
          },
          "all parameters as one flat vector: a writable NumPy view on the model's own memory (no copy)")
      .def_property_readonly(
          "param_blocks",
          [](const M& n) {
            py::list l;
            for (const ParamBlock& b : n.param_blocks()) l.append(py::make_tuple(b.name, b.offset, b.rows, b.cols));
            return l;
          },
          "[(name, offset, rows, cols)]: where each tensor sits in params")
      .def(
          "blocks",
          [](py::object self) {
            M& n = self.cast<M&>();
            py::dict d;
            for (const ParamBlock& b : n.param_blocks())
              d[py::str(b.name)] = view<T>(n.params().data() + b.offset, b.rows, b.cols, self, b.cols > 1);
            return d;
          },
          "{name: array}: each parameter block as a writable NumPy view (weights rows x cols, column-major; "
          "biases 1-D), no copy")
      .def(
          "block",
          [](py::object self, const std::string& name) {
            M& n = self.cast<M&>();
            for (const ParamBlock& b : n.param_blocks())
              if (b.name == name) return view<T>(n.params().data() + b.offset, b.rows, b.cols, self, b.cols > 1);
            throw InvalidOptions("no parameter block '" + name + "' (blocks: " + describe_blocks(n.param_blocks()) + ")");
          },
          py::arg("name"), "one parameter block as a writable NumPy view")
      .def("copy", [](const M& n) { return M(n); }, "an independent copy (parameters included)")
      .def("__copy__", [](const M& n) { return M(n); })
      .def("__deepcopy__", [](const M& n, py::dict) { return M(n); });
}

/// estimate(): the rule named by config's estimator.kind, for every rule that applies to M.
template <class M>
py::tuple estimate(const M& net, ConstRef<typename M::Scalar> x, ConstRef<typename M::Scalar> target,
                   const py::object& config, std::optional<Matrix<typename M::Scalar>> s0, long first_example) {
  using T = typename M::Scalar;
  const cli::RunConfig c = run_config(config);
  Matrix<T> s = s0 ? std::move(*s0) : Matrix<T>::Zero(net.state_size(), x.cols());
  Vector<T> grad = Vector<T>::Zero(net.params().size());
  EstimateSummary summary;
  bool found = false;
  std::string applicable;
  {
    py::gil_scoped_release nogil;
    std::apply(
        [&](auto... rules) {
          (
              [&](auto rule) {
                using Rule = decltype(rule);
                if constexpr (Rule::template applies<M>) {
                  applicable += (applicable.empty() ? "" : ", ") + std::string(Rule::name);
                  if (c.estimator.kind != Rule::name) return;
                  found = true;
                  typename Rule::Options o;
                  cli::TableReader r(&c.estimator_options, "estimator.");
                  r.read(o);
                  const auto e = Rule::template make<M>(o, c, net, AnyCost<T>{c.estimator.cost});
                  summary = e.estimate(net, x, target, s, grad, Index(first_example));
                }
              }(rules),
              ...);
        },
        cli::BuiltinRules{});
  }
  require<InvalidOptions>(found, "estimator.kind = \"", c.estimator.kind, "\" does not apply to this model (rules that do: ",
                          applicable, ")");
  return py::make_tuple(std::move(grad), summary, std::move(s));
}

template <class M>
void bind_estimate(py::class_<M>& c) {
  using T = typename M::Scalar;
  c.def("estimate", &estimate<M>, py::arg("x"), py::arg("target"), py::arg("config") = py::none(),
        py::arg("s") = py::none(), py::arg("first_example") = 0,
        "(grad, summary, s): the learning rule of config['estimator']['kind'] (default 'ep') with its options and "
        "the phases config['relax']['free'|'nudged'] (a dict, or TOML text, laid out as the tool's config file). "
        "grad is the SUM over the batch of the estimate of dJ/dtheta (laid out as params); s the free fixed point. "
        "x: inputs x batch, target: outputs x batch.");
  (void)sizeof(T);
}

/// Energy, gradients, relax, langevin, the exact gradient: for an ebm::EnergyModel.
template <class M>
void bind_energy_members(py::class_<M>& c) {
  using T = typename M::Scalar;
  c.def(
       "energy",
       [](const M& n, ConstRef<T> s, ConstRef<T> x) {
         detail::check_input(n, x.rows(), x.cols(), s.cols());
         require<DimensionMismatch>(s.rows() == n.state_size(), "state has ", s.rows(), " rows but the model has ",
                                    n.state_size(), " free units");
         return RowVector<T>(n.energy(s, x));
       },
       py::arg("s"), py::arg("x"), "E(s, x) per example (a 1-D array over the batch)")
      .def(
          "state_gradient",
          [](const M& n, ConstRef<T> s, ConstRef<T> x) {
            detail::check_input(n, x.rows(), x.cols(), s.cols());
            require<DimensionMismatch>(s.rows() == n.state_size(), "state has ", s.rows(), " rows but the model has ",
                                       n.state_size(), " free units");
            Matrix<T> g(s.rows(), s.cols());
            n.state_gradient(s, x, g);
            return g;
          },
          py::arg("s"), py::arg("x"), "dE/ds, the shape of s")
      .def(
          "param_gradient",
          [](const M& n, ConstRef<T> s, ConstRef<T> x) {
            detail::check_input(n, x.rows(), x.cols(), s.cols());
            require<DimensionMismatch>(s.rows() == n.state_size(), "state has ", s.rows(), " rows but the model has ",
                                       n.state_size(), " free units");
            Vector<T> g = Vector<T>::Zero(n.params().size());
            n.param_gradient(s, x, g);
            return g;
          },
          py::arg("s"), py::arg("x"), "sum over the batch of dE/dtheta, laid out as params");

  c.def(
      "relax",
      [](const M& n, ConstRef<T> x, std::optional<Matrix<T>> s0, const py::object& options,
         std::optional<Matrix<T>> target, double beta, const std::string& cost, const py::object& trace,
         long first_example) {
        const RelaxOptions o = options_from<RelaxOptions>(options, "relax.");
        const AnyCost<T> any{cost_kind(cost)};
        const bool want = wants_trace(trace);
        TraceRecorder<T> recorder(want ? trace_schedule(trace) : TraceSchedule::every_n(std::numeric_limits<long>::max()),
                                  target ? "nudged" : "free");
        Matrix<T> s = s0 ? std::move(*s0) : Matrix<T>::Zero(n.state_size(), x.cols());
        RelaxSummary summary;
        {
          py::gil_scoped_release nogil;
          if (target) {
            detail::check_input(n, x.rows(), x.cols(), target->cols());
            NudgedSystem<M, AnyCost<T>> sys(n, x, *target, T(beta), any);
            summary = relax(sys, s, o, Index(first_example), recorder);
          } else {
            detail::check_input(n, x.rows(), x.cols(), -1);
            FreeSystem<M> sys(n, x);
            summary = relax(sys, s, o, Index(first_example), recorder);
          }
        }
        return py::make_tuple(std::move(s), summary, want ? py::object(trace_columns(recorder)) : py::none());
      },
      py::arg("x"), py::arg("s") = py::none(), py::arg("options") = py::none(), py::arg("target") = py::none(),
      py::arg("beta") = 0.0, py::arg("cost") = "squared_error", py::arg("trace") = py::none(),
      py::arg("first_example") = 0,
      "(s, summary, trace): relaxes the batch (x: inputs x batch; s: the start, zeros by default) to a minimum of "
      "F = E (free) or F = E + beta*C(s_out, target) (nudged, when target is given) by options['method'] (euler, "
      "rk4, dopri5, fixed_point; ebm.defaults('relax') lists the options). trace: None (none), True (every step), "
      "n (every n-th step) or a list of times; a dict of NumPy columns.");

  c.def(
      "langevin",
      [](const M& n, ConstRef<T> x, std::optional<Matrix<T>> s0, const py::object& options,
         std::optional<Matrix<T>> target, double beta, const std::string& cost, const py::object& trace,
         long first_example) {
        const LangevinOptions o = langevin_options_from(options);
        const AnyCost<T> any{cost_kind(cost)};
        const bool want = wants_trace(trace);
        TraceRecorder<T> recorder(want ? trace_schedule(trace) : TraceSchedule::every_n(std::numeric_limits<long>::max()),
                                  target ? "nudged" : "free");
        Matrix<T> s = s0 ? std::move(*s0) : Matrix<T>::Zero(n.state_size(), x.cols());
        LangevinSummary summary;
        {
          py::gil_scoped_release nogil;
          if (target) {
            detail::check_input(n, x.rows(), x.cols(), target->cols());
            NudgedSystem<M, AnyCost<T>> sys(n, x, *target, T(beta), any);
            summary = langevin(sys, s, o, Index(first_example), recorder);
          } else {
            detail::check_input(n, x.rows(), x.cols(), -1);
            FreeSystem<M> sys(n, x);
            summary = langevin(sys, s, o, Index(first_example), recorder);
          }
        }
        return py::make_tuple(std::move(s), summary, want ? py::object(trace_columns(recorder)) : py::none());
      },
      py::arg("x"), py::arg("s") = py::none(), py::arg("options") = py::none(), py::arg("target") = py::none(),
      py::arg("beta") = 0.0, py::arg("cost") = "squared_error", py::arg("trace") = py::none(),
      py::arg("first_example") = 0,
      "(s, summary, trace): overdamped Langevin dynamics ds = -dF/ds dt + sqrt(2T) dW; options: method (ula, "
      "mala), temperature, dt, steps, seed, divergence_bound. Each example has its own noise stream seeded from "
      "(seed, first_example + column).");

  if constexpr (HasSecondOrder<M>) {
    c.def(
         "hessian_vector",
         [](const M& n, ConstRef<T> s, ConstRef<T> x, ConstRef<T> v) {
           Matrix<T> hv(s.rows(), s.cols());
           n.hessian_vector(s, x, v, hv);
           return hv;
         },
         py::arg("s"), py::arg("x"), py::arg("v"), "(d2E/ds2) v, per example")
        .def(
            "mixed_vector",
            [](const M& n, ConstRef<T> s, ConstRef<T> x, ConstRef<T> v) {
              Vector<T> g = Vector<T>::Zero(n.params().size());
              n.mixed_vector(s, x, v, g);
              return g;
            },
            py::arg("s"), py::arg("x"), py::arg("v"), "sum over the batch of (d2E/ds dtheta)^T v")
        .def(
            "implicit_gradient",
            [](const M& n, ConstRef<T> s, ConstRef<T> x, ConstRef<T> target, const std::string& cost,
               const py::object& options) {
              const ExactGradientOptions o = options_from<ExactGradientOptions>(options, "estimator.");
              AdjointGradient<T> g;
              {
                py::gil_scoped_release nogil;
                g = implicit_gradient(n, s, x, target, o, AnyCost<T>{cost_kind(cost)});
              }
              return py::make_tuple(std::move(g.grad), std::move(g.lambda));
            },
            py::arg("s"), py::arg("x"), py::arg("target"), py::arg("cost") = "squared_error",
            py::arg("options") = py::none(),
            "(grad, lambda): the exact gradient dJ/dtheta (sum over the batch) by implicit differentiation at the "
            "fixed point s (not relaxed here), J = C(s_out, target); lambda = H^-1 dC/ds");
  }
  bind_estimate(c);
}

}  // namespace ebm::python
