#pragma once
/// \file
/// What a training loop calls around its epochs and minibatches (ensmallen's habit): the
/// metrics file, the checkpoints, a progress display, early stopping and learning-rate schedules
/// are callbacks, not members of the loop, and a user passes their own from C++
/// (Trainer::add_callback). Each hook has a default that does nothing.
///
/// Order within an epoch: on_epoch_begin, on_batch after every optimizer step, then (after the
/// evaluation, and only if the epoch ended without a fault) on_epoch_end in the order the
/// callbacks were added; training stops after the epoch when any on_epoch_end returns true.

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/types.hpp"
#include "training/metrics.hpp"

namespace ebm {

/// Hooks of a training loop.
class TrainingCallback {
 public:
  virtual ~TrainingCallback() = default;
  /// Before epoch `epoch` (0-based) begins; also called for the first epoch after a resume.
  virtual void on_epoch_begin(long /*epoch*/) {}
  /// After minibatch `batch` of `batches`, with the epoch's running loss and accuracy.
  virtual void on_batch(Index /*batch*/, Index /*batches*/, double /*loss*/, double /*accuracy*/) {}
  /// After a good epoch's evaluation; return true to stop training after it.
  virtual bool on_epoch_end(const EpochMetrics& /*metrics*/) { return false; }
  /// A run resumed after `epoch` completed epochs.
  virtual void on_resume(long /*epoch*/) {}
};

/// [early_stopping]: stop when the validation accuracy has not improved for a while.
struct EarlyStoppingOptions {
  long patience = 0;  ///< epochs without improvement before stopping; 0 = never stop early
  double min_delta = 0.0;
  static constexpr auto fields() {
    using E = EarlyStoppingOptions;
    return std::tuple{
        field("patience", &E::patience, "stop after this many epochs without a better validation accuracy (0 = off)",
              non_negative),
        field("min_delta", &E::min_delta, "an improvement smaller than this does not count", non_negative),
    };
  }
};

/// Stops when the validation accuracy has not improved by `min_delta` for `patience` epochs.
class EarlyStopping : public TrainingCallback {
 public:
  explicit EarlyStopping(long patience, double min_delta = 0.0) : patience_(patience), min_delta_(min_delta) {}
  bool on_epoch_end(const EpochMetrics& m) override {
    const double accuracy = m.validation_accuracy;
    require<InvalidOptions>(std::isfinite(accuracy),
                            "early stopping watches the validation accuracy: set data.validation_size > 0");
    if (accuracy > best_ + min_delta_) {
      best_ = accuracy;
      best_epoch_ = m.epoch;
      since_ = 0;
      return false;
    }
    return ++since_ >= patience_;
  }
  long best_epoch() const { return best_epoch_; }
  double best_accuracy() const { return best_; }

 private:
  long patience_;
  double min_delta_;
  double best_ = -std::numeric_limits<double>::infinity();
  long best_epoch_ = 0;
  long since_ = 0;
};

/// How the learning rates change across epochs (a factor on every rate).
enum class ScheduleKind {
  constant,  ///< factor 1
  step,      ///< factor `step_factor`^⌊epoch / step_epochs⌋
  cosine,    ///< min_factor + (1 − min_factor)(1 + cos(π·epoch/epochs))/2, from 1 down to min_factor
};

template <>
struct EnumNames<ScheduleKind> {
  static constexpr std::array<std::pair<ScheduleKind, std::string_view>, 3> values{
      {{ScheduleKind::constant, "constant"}, {ScheduleKind::step, "step"}, {ScheduleKind::cosine, "cosine"}}};
};

/// [schedule]: the learning-rate schedule. A function of the epoch only, so a resumed run
/// continues on the same schedule with nothing saved.
struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::constant;
  long step_epochs = 10;
  double step_factor = 0.5;
  double min_factor = 0.0;

  static constexpr auto fields() {
    using S = ScheduleOptions;
    return std::tuple{
        field("kind", &S::kind, "learning-rate schedule over epochs: constant, step or cosine"),
        field("step_epochs", &S::step_epochs, "step: epochs between decays", positive),
        field("step_factor", &S::step_factor, "step: factor at each decay", checks::InOpenClosed{0, 1}),
        field("min_factor", &S::min_factor, "cosine: the final factor", checks::InRange{0, 1, true}),
    };
  }

  /// The factor on the rates during epoch `epoch` (0-based) of `epochs`.
  double factor(long epoch, long epochs) const {
    switch (kind) {
      case ScheduleKind::constant: return 1.0;
      case ScheduleKind::step: return std::pow(step_factor, double(epoch / step_epochs));
      case ScheduleKind::cosine:
        return epochs <= 1 ? 1.0
                           : min_factor + (1 - min_factor) * 0.5 *
                                              (1 + std::cos(std::numbers::pi * double(epoch) / double(epochs)));
    }
    return 1.0;
  }
};

/// Sets the optimizer's rate factor at the start of each epoch from a ScheduleOptions.
class LearningRateSchedule : public TrainingCallback {
 public:
  LearningRateSchedule(ScheduleOptions options, long epochs, std::function<void(double)> set_factor)
      : options_(options), epochs_(epochs), set_factor_(std::move(set_factor)) {}
  void on_epoch_begin(long epoch) override { set_factor_(options_.factor(epoch, epochs_)); }

 private:
  ScheduleOptions options_;
  long epochs_;
  std::function<void(double)> set_factor_;
};

/// metrics.csv: one row per epoch, the whole file rewritten atomically after each (a crash
/// never leaves half a row); on resume, rows after the checkpoint's epoch (from an interrupted
/// epoch) are dropped.
class MetricsCsv : public TrainingCallback {
 public:
  explicit MetricsCsv(std::filesystem::path path) : path_(std::move(path)) {}
  const std::filesystem::path& path() const { return path_; }
  bool on_epoch_end(const EpochMetrics& m) override {
    if (text_.empty()) text_ = EpochMetrics::csv_header();
    text_ += m.csv_row();
    write_file_atomically(path_, text_);  // the whole file, so a crash never leaves half a row
    return false;
  }
  void on_resume(long epoch) override {
    text_.clear();
    if (!std::filesystem::exists(path_)) return;
    std::ifstream in(path_);
    std::string line;
    std::getline(in, line);
    require<DataError>(line + '\n' == EpochMetrics::csv_header(), path_.string(),
                       ": line 1 is not the header this build writes (another version's file?); move it away "
                       "to resume");
    text_ = EpochMetrics::csv_header();
    for (long number = 2; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      long row_epoch = 0;
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), row_epoch);
      require<DataError>(ec == std::errc() && end != line.data() && *end == ',', path_.string(), ": line ", number,
                         " does not start with an epoch number: '", line.substr(0, 40), "'");
      if (row_epoch <= epoch) text_ += line + '\n';
    }
    write_file_atomically(path_, text_);
  }

 private:
  std::filesystem::path path_;
  std::string text_;
};

/// Writes the checkpoint after each good epoch (atomically, see write_checkpoint).
class Checkpointer : public TrainingCallback {
 public:
  explicit Checkpointer(std::function<void()> write) : write_(std::move(write)) {}
  bool on_epoch_end(const EpochMetrics&) override {
    write_();
    return false;
  }

 private:
  std::function<void()> write_;
};

}  // namespace ebm
