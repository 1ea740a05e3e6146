#pragma once
/// \file
/// Python callbacks of a training run: a callable f(metrics) called after each epoch (return
/// True to stop), or an object with any of on_epoch_begin(epoch), on_batch(batch, batches, loss,
/// accuracy), on_epoch_end(metrics) -> bool, on_resume(epoch). The trainer runs without the GIL;
/// each hook takes it for the call.

#include <memory>
#include <vector>

#include "python/src/common.hpp"
#include "training/callbacks.hpp"
#include "training/metrics.hpp"

namespace ebm::python {

inline py::dict metrics_dict(const EpochMetrics& m) {
  py::dict d;
  d["epoch"] = m.epoch;
  d["step"] = m.step;
  d["loss"] = m.loss;
  d["train_accuracy"] = m.train_accuracy;
  d["eval_train_accuracy"] = m.eval_train_accuracy;
  d["validation_accuracy"] = m.validation_accuracy;
  d["test_accuracy"] = m.test_accuracy;
  d["test_loss"] = m.test_loss;
  d["seconds"] = m.seconds;
  d["free_steps"] = m.free_steps;
  d["nudged_steps"] = m.nudged_steps;
  d["free_grad_norm"] = m.free_grad_norm;
  d["nudged_grad_norm"] = m.nudged_grad_norm;
  d["batches"] = m.batches;
  d["free_unconverged"] = m.free_unconverged;
  d["nudged_unconverged"] = m.nudged_unconverged;
  d["brief"] = m.brief();
  return d;
}

class PythonCallback : public TrainingCallback {
 public:
  explicit PythonCallback(py::object f) : f_(std::move(f)) {}
  ~PythonCallback() override {
    py::gil_scoped_acquire gil;
    f_ = py::object();
  }
  void on_epoch_begin(long epoch) override { call("on_epoch_begin", epoch); }
  void on_batch(Index batch, Index batches, double loss, double accuracy) override {
    call("on_batch", long(batch), long(batches), loss, accuracy);
  }
  bool on_epoch_end(const EpochMetrics& m) override {
    py::gil_scoped_acquire gil;
    py::object r;
    if (py::hasattr(f_, "on_epoch_end")) r = f_.attr("on_epoch_end")(metrics_dict(m));
    else if (PyCallable_Check(f_.ptr()) && !has_any_hook()) r = f_(metrics_dict(m));
    return r && !r.is_none() && r.cast<bool>();
  }
  void on_resume(long epoch) override { call("on_resume", epoch); }

 private:
  bool has_any_hook() const {
    return py::hasattr(f_, "on_epoch_begin") || py::hasattr(f_, "on_batch") || py::hasattr(f_, "on_resume");
  }
  template <class... A>
  void call(const char* hook, A... a) {
    py::gil_scoped_acquire gil;
    if (py::hasattr(f_, hook)) f_.attr(hook)(a...);
  }
  py::object f_;
};

/// The callbacks given from Python (None, one, or a list), and one that collects every epoch's
/// metrics into `history`.
inline std::vector<std::shared_ptr<TrainingCallback>> python_callbacks(const py::object& callbacks) {
  std::vector<std::shared_ptr<TrainingCallback>> out;
  if (callbacks.is_none()) return out;
  if (py::isinstance<py::list>(callbacks) || py::isinstance<py::tuple>(callbacks)) {
    for (const py::handle c : callbacks) out.push_back(std::make_shared<PythonCallback>(py::reinterpret_borrow<py::object>(c)));
  } else {
    out.push_back(std::make_shared<PythonCallback>(callbacks));
  }
  return out;
}

/// Keeps every epoch's metrics (read after the run, with the GIL).
class History : public TrainingCallback {
 public:
  bool on_epoch_end(const EpochMetrics& m) override {
    epochs.push_back(m);
    return false;
  }
  std::vector<EpochMetrics> epochs;
};

}  // namespace ebm::python
