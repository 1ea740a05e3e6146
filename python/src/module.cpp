// The Python module ebm._ebm (re-exported by the package ebm, python/ebm/__init__.py): errors as
// Python exceptions with the library's messages (a DivergenceError carries its site), the
// summaries, the options' defaults, and the classes and functions of the other files.
#include "learning/bptt.hpp"
#include "learning/contrastive_hebbian.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/estimator.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/stochastic_ep.hpp"
#include "python/src/common.hpp"
#include "training/faults.hpp"

namespace ebm::python {

void bind_summaries(py::module_& m) {
  py::class_<RelaxSummary>(m, "RelaxSummary", "how a relaxation went (solvers/summary.hpp)")
      .def_property_readonly("method", [](const RelaxSummary& s) { return std::string(to_string(s.method)); })
      .def_property_readonly("termination", [](const RelaxSummary& s) { return std::string(to_string(s.termination)); },
                             "converged, time horizon reached, step budget exhausted, diverged, stopped by observer")
      .def_property_readonly("converged", &RelaxSummary::converged)
      .def_readonly("steps_accepted", &RelaxSummary::steps_accepted)
      .def_readonly("steps_rejected", &RelaxSummary::steps_rejected)
      .def_readonly("gradient_evaluations", &RelaxSummary::gradient_evaluations)
      .def_readonly("t_final", &RelaxSummary::t_final)
      .def_readonly("final_grad_norm", &RelaxSummary::final_grad_norm)
      .def_readonly("final_energy", &RelaxSummary::final_energy)
      .def_readonly("wall_seconds", &RelaxSummary::wall_seconds)
      .def_readonly("examples", &RelaxSummary::examples)
      .def_readonly("message", &RelaxSummary::message)
      .def("brief_report", &RelaxSummary::brief_report)
      .def("full_report", &RelaxSummary::full_report)
      .def("__repr__", [](const RelaxSummary& s) { return "<RelaxSummary " + s.brief_report() + ">"; });
  py::class_<LangevinSummary>(m, "LangevinSummary", "how a Langevin run went (solvers/langevin.hpp)")
      .def_property_readonly("method", [](const LangevinSummary& s) { return std::string(to_string(s.method)); })
      .def_readonly("steps", &LangevinSummary::steps)
      .def_readonly("examples", &LangevinSummary::examples)
      .def_readonly("proposals", &LangevinSummary::proposals)
      .def_readonly("accepted", &LangevinSummary::accepted)
      .def_readonly("gradient_evaluations", &LangevinSummary::gradient_evaluations)
      .def_readonly("t_final", &LangevinSummary::t_final)
      .def_readonly("final_energy", &LangevinSummary::final_energy)
      .def_readonly("wall_seconds", &LangevinSummary::wall_seconds)
      .def_property_readonly("acceptance_rate", &LangevinSummary::acceptance_rate)
      .def("brief_report", &LangevinSummary::brief_report)
      .def("full_report", &LangevinSummary::full_report)
      .def("__repr__", [](const LangevinSummary& s) { return "<LangevinSummary " + s.brief_report() + ">"; });
  py::class_<EstimateSummary>(m, "EstimateSummary", "what an estimate reports (learning/estimator.hpp)")
      .def_readonly("free_phase", &EstimateSummary::free_phase)
      .def_readonly("nudged_phase", &EstimateSummary::nudged_phase)
      .def_readonly("loss", &EstimateSummary::loss, "sum over the batch of C at the free fixed point")
      .def_readonly("correct", &EstimateSummary::correct)
      .def_readonly("examples", &EstimateSummary::examples)
      .def("__repr__", [](const EstimateSummary& s) {
        return "<EstimateSummary loss " + std::to_string(s.loss) + ", " + std::to_string(s.correct) + "/" +
               std::to_string(s.examples) + " correct; free: " + s.free_phase.brief_report() + ">";
      });
}

namespace {

/// The declared defaults of an options struct by its config name.
py::dict defaults(const std::string& what) {
  if (what == "relax") return to_dict(RelaxOptions{});
  if (what == "langevin") return to_dict(LangevinOptions{});
  if (what == "ep") return to_dict(EPOptions{});
  if (what == "chl") return to_dict(CHLOptions{});
  if (what == "early_inference") return to_dict(EarlyInferenceOptions{});
  if (what == "stochastic_ep") return to_dict(StochasticEPOptions{});
  if (what == "recurrent_backprop" || what == "exact_gradient") return to_dict(ExactGradientOptions{});
  if (what == "bptt") return to_dict(BpttOptions{});
  if (what == "layered_hopfield") return to_dict(LayeredHopfieldOptions{});
  if (what == "xie_seung") return to_dict(XieSeungOptions{});
  throw InvalidOptions("no defaults for '" + what +
                       "' (relax, langevin, ep, chl, early_inference, stochastic_ep, recurrent_backprop, bptt, "
                       "layered_hopfield, xie_seung; ebm.config() gives the whole run config)");
}

}  // namespace

}  // namespace ebm::python

PYBIND11_MODULE(_ebm, m) {
  namespace py = pybind11;
  using namespace ebm::python;
  m.doc() = "ebm: energy-based networks that relax, and the learning rules that compare relaxations";
  m.attr("__version__") = EBM_VERSION;  // the CMake project's version

  // Errors: the library's classes, with the same messages. Derived ones are registered after
  // their base so that their translators are tried first.
  static py::exception<ebm::Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<ebm::InvalidOptions> invalid(m, "InvalidOptions", error.ptr());
  static py::exception<ebm::DimensionMismatch> mismatch(m, "DimensionMismatch", error.ptr());
  static py::exception<ebm::DataError> data_error(m, "DataError", error.ptr());
  static py::exception<ebm::TrainingFault> fault(m, "TrainingFault", error.ptr());
  static py::exception<ebm::DivergenceError> divergence(m, "DivergenceError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ebm::DivergenceError& e) {
      py::object instance = py::reinterpret_borrow<py::object>(divergence.ptr())(e.what());
      const ebm::DivergenceSite& s = e.site();
      py::dict site;
      site["step"] = s.step;
      site["t"] = s.t;
      site["example"] = s.example;
      site["layer"] = s.layer;
      site["unit"] = s.unit;
      site["value"] = s.value;
      instance.attr("site") = site;
      PyErr_SetObject(divergence.ptr(), instance.ptr());
    } catch (const ebm::TrainingFault& e) {
      PyErr_SetString(fault.ptr(), e.what());
    } catch (const ebm::InvalidOptions& e) {
      PyErr_SetString(invalid.ptr(), e.what());
    } catch (const ebm::DimensionMismatch& e) {
      PyErr_SetString(mismatch.ptr(), e.what());
    } catch (const ebm::DataError& e) {
      PyErr_SetString(data_error.ptr(), e.what());
    } catch (const ebm::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  bind_summaries(m);
  bind_builtin_models(m);
  bind_python_energy(m);
  bind_tool(m);
  m.def("defaults", &defaults, py::arg("what"),
        "the declared options of 'relax', 'langevin', a rule ('ep', 'chl', ...) or a model kind, with defaults");
}
