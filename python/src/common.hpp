#pragma once
/// \file
/// What the translation units of the Python module share: conversions between Python objects
/// and the tool's TOML tables (so that a dict of options is read by the same declared fields,
/// with the same messages, as the config file), NumPy views on parameter vectors, and the
/// options readers. The module is ebm/_ebm (python/ebm/__init__.py re-exports it).

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "cli/config.hpp"
#include "cli/registry_core.hpp"
#include "cli/toml_fields.hpp"
#include "core/cost.hpp"
#include "solvers/langevin.hpp"
#include "solvers/relax_options.hpp"
#include "solvers/summary.hpp"
#include "solvers/trace.hpp"

namespace ebm::python {

namespace py = pybind11;

/// A Python value (dict, list, str, bool, int, float, NumPy scalars) as a TOML node; `where`
/// names it in errors.
inline void insert_value(toml::table& t, const std::string& key, const py::handle& v, const std::string& where);

inline toml::array to_toml_array(const py::handle& seq, const std::string& where) {
  toml::array a;
  std::size_t i = 0;
  for (const py::handle item : seq) {
    toml::table holder;
    insert_value(holder, "x", item, where + "[" + std::to_string(i++) + "]");
    a.push_back(*holder.get("x"));
  }
  return a;
}

inline toml::table to_toml(const py::dict& d, const std::string& where = "") {
  toml::table t;
  for (const auto& [k, v] : d) {
    const std::string key = py::str(k);
    insert_value(t, key, v, where.empty() ? key : where + "." + key);
  }
  return t;
}

inline void insert_value(toml::table& t, const std::string& key, const py::handle& v, const std::string& where) {
  if (py::isinstance<py::bool_>(v) || py::isinstance(v, py::module_::import("numpy").attr("bool_"))) {
    t.insert_or_assign(key, v.cast<bool>());
  } else if (py::isinstance<py::int_>(v) || py::hasattr(v, "__index__")) {
    t.insert_or_assign(key, v.cast<std::int64_t>());
  } else if (py::isinstance<py::float_>(v) || py::isinstance(v, py::module_::import("numpy").attr("floating"))) {
    t.insert_or_assign(key, v.cast<double>());
  } else if (py::isinstance<py::str>(v)) {
    t.insert_or_assign(key, v.cast<std::string>());
  } else if (py::isinstance<py::dict>(v)) {
    t.insert_or_assign(key, to_toml(v.cast<py::dict>(), where));
  } else if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v) || py::isinstance<py::array>(v)) {
    t.insert_or_assign(key, to_toml_array(v, where));
  } else {
    throw InvalidOptions(where + ": a " + std::string(py::str(v.get_type().attr("__name__"))) +
                         " is not an option value (numbers, strings, booleans, lists and dicts are)");
  }
}

/// A TOML node as a Python object (tables as dicts).
inline py::object from_toml(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    py::dict d;
    for (const auto& [k, v] : *t) d[py::str(std::string(k.str()))] = from_toml(v);
    return d;
  }
  if (const auto* a = n.as_array()) {
    py::list l;
    for (const auto& v : *a) l.append(from_toml(v));
    return l;
  }
  if (auto v = n.value_exact<bool>()) return py::bool_(*v);
  if (auto v = n.value_exact<std::int64_t>()) return py::int_(*v);
  if (auto v = n.value_exact<double>()) return py::float_(*v);
  if (auto v = n.value_exact<std::string>()) return py::str(*v);
  return py::none();
}

/// A config given as a dict, as TOML text, or None (every default).
inline toml::table config_table(const py::object& config, const std::string& source = "config") {
  if (config.is_none()) return {};
  if (py::isinstance<py::str>(config)) return cli::parse_toml(config.cast<std::string>(), source);
  if (py::isinstance<py::dict>(config)) return to_toml(config.cast<py::dict>());
  throw py::type_error(source + " must be a dict or TOML text, got a " +
                       std::string(py::str(config.get_type().attr("__name__"))));
}

/// Reads a declared options struct from a dict (or None), naming unknown keys and bad values
/// with `section` ("relax."), then validates it.
template <HasFields S>
S options_from(const py::object& o, const std::string& section, S out = S{}) {
  const toml::table t = config_table(o, section.substr(0, section.size() - 1));
  cli::TableReader r(&t, section);
  r.read(out);
  r.reject_unknown(section.substr(0, section.size() - 1), field_names<S>());
  std::string why;
  if constexpr (requires { out.is_valid(&why, section); }) {
    if (!out.is_valid(&why, section)) throw InvalidOptions(why);
  } else if (!check_fields(out, section, &why)) {
    throw InvalidOptions(why);
  }
  return out;
}

/// Every declared field of `s` as a dict (the defaults, or what was read).
template <HasFields S>
py::dict to_dict(const S& s) {
  toml::table t;
  cli::write_fields(s, t);
  return from_toml(t).cast<py::dict>();
}

/// LangevinOptions from a dict: method (ula, mala), temperature, dt, steps, seed, divergence_bound.
inline LangevinOptions langevin_options_from(const py::object& o) {
  LangevinOptions l;
  if (o.is_none()) return l;
  if (!py::isinstance<py::dict>(o)) throw InvalidOptions("langevin options must be a dict");
  for (const auto& [k, v] : o.cast<py::dict>()) {
    const std::string key = py::str(k);
    try {
      if (key == "method") l.method = parse_langevin_method(v.cast<std::string>());
      else if (key == "temperature") l.temperature = v.cast<double>();
      else if (key == "dt") l.dt = v.cast<double>();
      else if (key == "steps") l.steps = v.cast<long>();
      else if (key == "seed") l.seed = v.cast<std::uint64_t>();
      else if (key == "divergence_bound") l.divergence_bound = v.cast<double>();
      else
        throw InvalidOptions("unknown option 'langevin." + key +
                             "' (its options: method, temperature, dt, steps, seed, divergence_bound)");
    } catch (const py::cast_error&) {
      throw InvalidOptions("langevin." + key + " has the wrong type");
    }
  }
  l.validate();
  return l;
}

inline py::dict to_dict(const LangevinOptions& l) {
  py::dict d;
  d["method"] = std::string(to_string(l.method));
  d["temperature"] = l.temperature;
  d["dt"] = l.dt;
  d["steps"] = l.steps;
  d["seed"] = l.seed;
  d["divergence_bound"] = l.divergence_bound;
  return d;
}

/// The trace schedule from Python: None or True (every step), an int n (every n-th step), or a
/// list of times.
inline TraceSchedule trace_schedule(const py::object& trace) {
  if (trace.is_none() || py::isinstance<py::bool_>(trace)) return TraceSchedule::every_step();
  if (py::isinstance<py::int_>(trace)) return TraceSchedule::every_n(trace.cast<long>());
  return TraceSchedule::at_times(trace.cast<std::vector<double>>());
}

inline bool wants_trace(const py::object& trace) {
  return !trace.is_none() && !(py::isinstance<py::bool_>(trace) && !trace.cast<bool>());
}

/// A trace as a dict of columns: phase (list of str), step, t, dt, energy, grad_norm (arrays)
/// and dstate (rows × layers array).
template <class T>
py::dict trace_columns(const TraceRecorder<T>& trace) {
  const auto& rows = trace.rows();
  const auto n = py::ssize_t(rows.size());
  const auto layers = py::ssize_t(rows.empty() ? 0 : rows.front().layer_change.size());
  py::array_t<long> step(n);
  py::array_t<double> t(n), dt(n), energy(n), grad_norm(n), dstate({n, layers});
  py::list phase;
  auto st = step.mutable_unchecked<1>();
  auto tt = t.mutable_unchecked<1>();
  auto dd = dt.mutable_unchecked<1>();
  auto ee = energy.mutable_unchecked<1>();
  auto gg = grad_norm.mutable_unchecked<1>();
  auto ds = dstate.mutable_unchecked<2>();
  for (py::ssize_t i = 0; i < n; ++i) {
    const auto& r = rows[std::size_t(i)];
    phase.append(r.phase);
    st(i) = r.step;
    tt(i) = r.t;
    dd(i) = r.dt;
    ee(i) = r.energy;
    gg(i) = r.grad_norm;
    for (py::ssize_t k = 0; k < layers; ++k) ds(i, k) = r.layer_change[std::size_t(k)];
  }
  py::dict d;
  d["phase"] = phase;
  d["step"] = step;
  d["t"] = t;
  d["dt"] = dt;
  d["energy"] = energy;
  d["grad_norm"] = grad_norm;
  d["dstate"] = dstate;
  return d;
}

inline CostKind cost_kind(const std::string& name) {
  try {
    return parse_enum<CostKind>(name);
  } catch (const InvalidOptions& e) {
    throw InvalidOptions(std::string("cost: ") + e.what());
  }
}

/// A NumPy array viewing `n` scalars at `data` without a copy, kept alive by `owner`.
template <class T>
py::array_t<T> view(T* data, py::ssize_t rows, py::ssize_t cols, py::handle owner, bool matrix) {
  if (!matrix) return py::array_t<T>({rows}, {py::ssize_t(sizeof(T))}, data, owner);
  // Column-major, as Eigen stores a block.
  return py::array_t<T>({rows, cols}, {py::ssize_t(sizeof(T)), py::ssize_t(sizeof(T)) * rows}, data, owner);
}

/// A run configuration (for the estimators' phases and options) from a dict or TOML text; not
/// checked against a model (the model is the one given, not the config's).
inline cli::RunConfig run_config(const py::object& config) {
  return cli::config_from_toml(config_table(config), cli::Registry::instance(), /*for_training=*/false);
}

/// Registers the classes every model binding uses (summaries); module.cpp.
void bind_summaries(py::module_& m);
/// The built-in models (layered_hopfield in double and float, xie_seung); layered_hopfield.cpp.
void bind_builtin_models(py::module_& m);
/// The energy written in Python; python_energy.cpp.
void bind_python_energy(py::module_& m);
/// Training, gradient checks, checkpoints and data through the tool's registry; tool.cpp.
void bind_tool(py::module_& m);

}  // namespace ebm::python
