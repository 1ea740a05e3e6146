#pragma once
/// \file
/// What one epoch of training reports: a row of metrics.csv and the line the tool prints.

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>

namespace ebm {

/// What one epoch reports (one row of metrics.csv).
struct EpochMetrics {
  long epoch = 0;  ///< 1-based
  long step = 0;   ///< optimizer steps after the epoch
  double loss = 0;                ///< mean cost at the free fixed points met during training
  double train_accuracy = 0;      ///< free-phase accuracy on the minibatches, as they were trained
  double eval_train_accuracy = 0; ///< free-phase accuracy on a training subset after the epoch
  double validation_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;             ///< training and evaluation time of the epoch
  double free_steps = 0;          ///< mean steps of a free relaxation (per chunk)
  double nudged_steps = 0;        ///< mean steps of the nudged relaxations (per chunk)
  double free_grad_norm = 0;      ///< mean final ‖∂F/∂s‖ of the free phase (max over a chunk)
  double nudged_grad_norm = 0;
  long batches = 0;               ///< minibatches in the epoch
  long free_unconverged = 0;      ///< minibatches whose free phase missed relax.free.grad_tol (see TrainerOptions)
  long nudged_unconverged = 0;    ///< minibatches whose nudged phase missed its grad_tol
  /// MALA phases: accepted over proposed moves in the epoch's training phases (NaN without MALA;
  /// in the epoch line, not in metrics.csv, whose columns a resumed run checks).
  double acceptance = std::numeric_limits<double>::quiet_NaN();

  static std::string csv_header() {
    return "epoch,step,loss,train_accuracy,eval_train_accuracy,validation_accuracy,test_accuracy,test_loss,seconds,"
           "free_steps,nudged_steps,free_grad_norm,nudged_grad_norm,free_unconverged,nudged_unconverged\n";
  }
  std::string csv_row() const {
    std::ostringstream o;
    o.precision(10);
    o << epoch << ',' << step << ',' << loss << ',' << train_accuracy << ',' << eval_train_accuracy << ','
      << validation_accuracy << ',' << test_accuracy << ',' << test_loss << ',' << seconds << ',' << free_steps << ','
      << nudged_steps << ',' << free_grad_norm << ',' << nudged_grad_norm << ',' << free_unconverged << ','
      << nudged_unconverged << '\n';
    return o.str();
  }
  /// "epoch 3: loss 0.21, train 81.2% (eval 80.9%), val 80.1%, test 79.8%, 4.2 s, 38.1 free steps, |dF/ds| 3e-05"
  std::string brief() const {
    // Sets that were not evaluated (no validation set, no test set) have no column.
    char val[32] = "", test[32] = "";
    if (std::isfinite(validation_accuracy)) std::snprintf(val, sizeof val, ", val %.2f%%", 100 * validation_accuracy);
    if (std::isfinite(test_accuracy)) std::snprintf(test, sizeof test, ", test %.2f%%", 100 * test_accuracy);
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "epoch %ld: loss %.4f, train %.2f%% (eval %.2f%%)%s%s, %.2f s, %.1f free / %.1f nudged steps, "
                  "|dF/ds| %.2e",
                  epoch, loss, 100 * train_accuracy, 100 * eval_train_accuracy, val, test, seconds, free_steps,
                  nudged_steps, free_grad_norm);
    std::string line = buf;
    if (std::isfinite(acceptance)) {
      std::snprintf(buf, sizeof buf, ", MALA acceptance %.3f", acceptance);
      line += buf;
    }
    if (free_unconverged > 0 || nudged_unconverged > 0)
      line += "; warning: relaxations missed their grad_tol in " + std::to_string(free_unconverged) + " free / " +
              std::to_string(nudged_unconverged) + " nudged phases of " + std::to_string(batches) +
              " minibatches (raise relax.*.max_steps, or set relax.on_unconverged = \"fail\")";
    return line;
  }
};

}  // namespace ebm
