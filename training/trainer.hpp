#pragma once
/// \file
/// Minibatch training of an energy model by any Estimator (EP, CHL, early inference, the exact
/// gradient), with an Optimizer, parallel relaxations, per-epoch evaluation and metrics,
/// checkpoints and exact resumption.
///
/// Determinism: the epoch's shuffle is drawn from (seed, epoch); each minibatch is cut into
/// chunks of `parallel.chunk` examples (the cut never depends on the thread count), each chunk
/// is estimated as one matrix, and the chunk gradients are summed in chunk order. The weights
/// after any number of steps are therefore bit-identical for any number of threads, and a run
/// resumed from a checkpoint continues exactly as if it had not stopped.
///
/// Faults: the datasets are checked before training (finite pixels, labels in range); a
/// divergence, a non-finite gradient or update, or (with on_unconverged = fail) a relaxation that
/// misses its tolerance stops training with a TrainingFault naming the epoch, minibatch and step,
/// before metrics.csv or the checkpoint are written, so the files on disk stay those of the last
/// good epoch. Both are written atomically (temporary file, flush, rename): a run killed at any
/// moment leaves them readable, and resume() continues from them.
///
/// Processes: with TrainerOptions::group (a Collective, e.g. MPI ranks), the chunks of every
/// minibatch and of every evaluation are shared among the processes and their results gathered
/// (training/collective.hpp), so that each process ends every step with the weights one process
/// would have; the first process alone writes metrics.csv and the checkpoint.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/retained_heap.hpp"
#include "core/unpacked_product.hpp"
#include "core/system.hpp"
#include "data/augment.hpp"
#include "data/split.hpp"
#include "learning/estimator.hpp"
#include "solvers/parallel.hpp"
#include "solvers/phase.hpp"
#include "solvers/relax.hpp"
#include "training/callbacks.hpp"
#include "training/checkpoint.hpp"
#include "training/collective.hpp"
#include "training/metrics.hpp"
#include "training/faults.hpp"
#include "training/optimizer.hpp"

namespace ebm {

namespace detail {
template <class M>
struct RatesOf {
  using type = int;  // unused: the model has no tiled path
};
template <HasTiledHebbian M>
struct RatesOf<M> {
  using type = typename M::HebbianRates;
};
}  // namespace detail

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

/// Options of a Trainer (the config file's [data], [parallel] and [output] tables feed them).
struct TrainerOptions {
  Index batch_size = 32;
  long epochs = 1;
  std::uint64_t seed = 1;  ///< the epoch shuffles
  /// Training examples re-evaluated (free phase only) after each epoch; 0 = all.
  Index eval_train_size = 1000;
  ParallelOptions parallel;
  /// The free relaxation used for evaluation (normally the estimator's free phase).
  RelaxOptions eval_relax;
  /// Directory for metrics.csv and checkpoint.bin; empty = write nothing.
  std::filesystem::path out_dir;
  bool checkpoint = true;
  /// Stored in checkpoints: the effective configuration of the run.
  std::string config_text;
  /// Stored in checkpoints: the model's registered kind and its options (the [model] table, TOML),
  /// from which a tool rebuilds it.
  std::string model_kind = "layered_hopfield";
  std::string model_options;
  /// A free relaxation counts as unconverged when eval_relax.grad_tol > 0 and it stopped on its
  /// budget or horizon first; a nudged one likewise with this tolerance (0: never counted, as for
  /// early inference, whose nudged phase is a fixed number of steps by design).
  double nudged_grad_tol = 0;
  /// What an unconverged relaxation does: counted and reported (warn) or a TrainingFault (fail).
  OnUnconverged on_unconverged = OnUnconverged::warn;
  /// The processes that train this model together (none: this process alone); only the one of
  /// rank 0 writes files.
  std::shared_ptr<Collective> group;
  /// Random translations and mirrors of the training minibatches (evaluation sees the images as
  /// they are); a function of (augment.seed, epoch, example), like the shuffles.
  Augmentation augment;

  void validate() const {
    require<InvalidOptions>(batch_size >= 1, "data.batch_size must be ≥ 1, got ", batch_size);
    require<InvalidOptions>(epochs >= 0, "data.epochs must be ≥ 0, got ", epochs);
    require<InvalidOptions>(eval_train_size >= 0, "data.eval_train_size must be ≥ 0, got ", eval_train_size);
    parallel.validate();
    eval_relax.validate();
  }
};

/// Free-phase performance on a set of examples.
struct Evaluation {
  double loss = std::numeric_limits<double>::quiet_NaN();      ///< mean cost at the free fixed point
  double accuracy = std::numeric_limits<double>::quiet_NaN();  ///< fraction whose largest output is the label
  long examples = 0;
  double mean_steps = 0;      ///< mean over chunks of the relaxation steps
  double mean_grad_norm = 0;  ///< mean over chunks of the final max ‖∂F/∂s‖
};

/// Trains `model` in place. `M` is an energy model; `E` estimates dJ/dθ for it; `C` is the cost
/// used to score evaluations (it should be the estimator's).
template <class M, class E, class C = SquaredError<typename M::Scalar>>
  requires Estimator<E, M>
class Trainer {
 public:
  using T = typename M::Scalar;


  Trainer(M& model, const E& estimator, Optimizer<T>& optimizer, TrainerOptions options, C cost = C{})
      : model_(model), estimator_(estimator), optimizer_(optimizer), options_(std::move(options)), cost_(cost) {
    options_.validate();
    retain_freed_heap();  // a minibatch's scratch is freed and taken again: keep it mapped
    if (writes_files()) {
      metrics_csv_ = std::make_unique<MetricsCsv>(metrics_path());
      if (options_.checkpoint)
        checkpointer_ = std::make_unique<Checkpointer>([this] { write_checkpoint(checkpoint_path(), make_checkpoint()); });
    }
  }

  /// Adds a callback (early stopping, a schedule, a progress display, your own); it runs after
  /// the built-in ones (metrics.csv, then the checkpoint).
  void add_callback(std::shared_ptr<TrainingCallback> callback) { added_.push_back(std::move(callback)); }

  long epoch() const { return epoch_; }
  long step() const { return step_; }
  const TrainerOptions& options() const { return options_; }
  /// Whether this process writes metrics.csv and the checkpoint: it has an output directory and
  /// is the first of its group (or alone).
  bool writes_files() const { return !options_.out_dir.empty() && (!options_.group || options_.group->rank() == 0); }

  /// One optimizer step on the examples `indices` of `data`; returns the merged estimate summary
  /// and adds the per-chunk relaxation statistics to `stats`. `next`, the examples of `data` the
  /// following call will take, if known, lets the tiled path gather them during this step's update.
  EstimateSummary train_batch(const LabelledImages<T>& data, std::span<const Index> indices,
                              std::span<const Index> next = {}) {
    if (gathered_next_.data == &data && gathered_next_.indices == indices.data() &&
        x_next_.cols() == Index(indices.size())) {
      x_.swap(x_next_);  // gathered during the previous minibatch's update
      target_.swap(target_next_);
    } else {
      gather(data, indices, x_, target_, model_.output_block().size);
      augment_part(options_.augment, indices, std::uint64_t(epoch_), 0, Index(indices.size()), x_);
    }
    gathered_next_ = {};
    if constexpr (kTiled) {
      // A Langevin estimate averaging several samples per example is not one pair of states.
      bool pair = true;
      if constexpr (requires { estimator_.has_pair(); }) pair = estimator_.has_pair();
      if (options_.parallel.tiled_update && pair) return train_batch_tiled(data, next);
    }
    return train_batch_per_chunk();
  }

  /// Whether this estimator and model can take the tiled path (ParallelOptions::tiled_update).
  static constexpr bool kTiled = HebbianPairEstimator<E, M> && HasTiledHebbian<M>;
  /// Relaxes the free phase on (up to `limit`, 0 = all) examples of `data` and scores it.
  Evaluation evaluate(const LabelledImages<T>& data, Index limit = 0) const {
    Evaluation ev;
    const Index n = limit > 0 ? std::min(limit, data.size()) : data.size();
    if (n == 0) return ev;
    struct Part {
      double loss = 0;
      long correct = 0;
      RelaxSummary relax;
    };
    const Block out = model_.output_block();
    auto put = [](Index, const Part& p, ByteWriter& w) {
      w.put(p.loss), w.put(p.correct), put_summary(w, p.relax);
    };
    auto get = [](Index, ByteReader& r) {
      Part p;
      p.loss = r.get<double>("loss"), p.correct = r.get<long>("correct"), p.relax = get_relax_summary(r);
      return p;
    };
    std::vector<Part> parts = across(n, [&](Index first, Index count) {
      Part p;
      const auto x = data.images.middleCols(first, count);
      Matrix<T> s = Matrix<T>::Zero(model_.state_size(), count);
      if constexpr (EnergyModel<M>) {
        FreeSystem<M> free(model_, x);
        p.relax = relax_free_phase(free, s, options_.eval_relax, first, options_.seed);
      } else {
        p.relax = model_.relax_free(x, s, options_.eval_relax);  // a dynamics without an energy
      }
      Matrix<T> target = Matrix<T>::Zero(out.size, count);
      for (Index j = 0; j < count; ++j) target(data.labels[std::size_t(first + j)], j) = T(1);
      const auto y = s.middleRows(out.offset, out.size);
      p.loss = double(cost_.value(y, target).sum());
      for (Index j = 0; j < count; ++j) {
        Index best = 0;
        y.col(j).maxCoeff(&best);
        p.correct += best == data.labels[std::size_t(first + j)];
      }
      return p;
    }, put, get);
    double loss = 0;
    long correct = 0;
    for (const Part& p : parts) {
      loss += p.loss;
      correct += p.correct;
      ev.mean_steps += double(p.relax.steps_accepted) / double(parts.size());
      ev.mean_grad_norm += p.relax.final_grad_norm / double(parts.size());
    }
    ev.examples = long(n);
    ev.loss = loss / double(n);
    ev.accuracy = double(correct) / double(n);
    return ev;
  }

  /// One epoch over `train` (shuffled by (seed, epoch)), then evaluation; writes metrics.csv and
  /// the checkpoint when an output directory is set. Throws TrainingFault on a numerical fault,
  /// before writing anything.
  EpochMetrics train_epoch(const LabelledImages<T>& train, const LabelledImages<T>* validation = nullptr,
                           const LabelledImages<T>* test = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    free_steps_ = nudged_steps_ = free_norm_ = nudged_norm_ = 0;
    proposals_ = accepted_ = 0;
    chunk_count_ = 0;
    options_.augment.validate(train.images.rows());
    const Minibatches batches(train.size(), options_.batch_size, options_.seed, std::uint64_t(epoch_));
    gathered_next_ = {};  // a pointer into an earlier epoch's (or a failed one's) order
    EpochMetrics m;
    double loss = 0;
    long correct = 0, seen = 0;
    for (Index b = 0; b < batches.size(); ++b) {
      const long step_before = step_;
      largest_param_ = std::numeric_limits<double>::quiet_NaN();  // unknown until the step reports it
      const std::span<const Index> next = b + 1 < batches.size() ? batches[b + 1] : std::span<const Index>{};
      const EstimateSummary s = guarded(b, batches, [&] { return train_batch(train, batches[b], next); });
      // A learning rate far too large: the update overflows even from a finite gradient, or sends
      // the weights beyond any sense (a clipped activation would keep training on them for ever).
      const double bound = optimizer_.options().divergence_bound;
      // The optimizer reports the largest |θ| as it writes them; the scan below only names the culprit.
      std::string where;
      if (!(largest_param_ <= bound)) where = describe_non_finite(model_.params(), model_.param_blocks(), bound);
      if (!where.empty()) {
        std::ostringstream o;
        o << where_in_run(b, batches.size(), step_before) << ": training diverged: the optimizer step made parameter "
          << where << ", beyond optimizer.divergence_bound = " << bound << " (lower optimizer.learning_rate)";
        throw TrainingFault(o.str());
      }
      check_convergence(s, b, batches.size(), step_before, m);
      loss += s.loss;
      correct += s.correct;
      seen += s.examples;
      for (TrainingCallback* cb : callbacks()) cb->on_batch(b, batches.size(), loss / double(seen), double(correct) / double(seen));
    }
    m.epoch = epoch_ + 1;
    m.step = step_;
    m.batches = long(batches.size());
    m.loss = seen ? loss / double(seen) : 0;
    m.train_accuracy = seen ? double(correct) / double(seen) : 0;
    const double chunks = std::max<double>(1, double(chunk_count_));
    m.free_steps = free_steps_ / chunks;
    m.nudged_steps = nudged_steps_ / chunks;
    m.free_grad_norm = free_norm_ / chunks;
    m.nudged_grad_norm = nudged_norm_ / chunks;
    if (proposals_ > 0) m.acceptance = double(accepted_) / double(proposals_);
    const std::string after = "evaluation after epoch " + std::to_string(epoch_ + 1);
    AveragedWeights averaged(*this);  // evaluates the moving average when there is one
    m.eval_train_accuracy = guarded_evaluate(after + " (training subset)", train, options_.eval_train_size).accuracy;
    if (validation && validation->size() > 0)
      m.validation_accuracy = guarded_evaluate(after + " (validation set)", *validation).accuracy;
    if (test && test->size() > 0) {
      const Evaluation ev = guarded_evaluate(after + " (test set)", *test);
      m.test_accuracy = ev.accuracy;
      m.test_loss = ev.loss;
    }
    averaged.restore();
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Nothing non-finite reaches the disk: the previous checkpoint stays the last good one.
    require<TrainingFault>(std::isfinite(m.loss) && (!test || test->size() == 0 || std::isfinite(m.test_loss)),
                           "epoch ", m.epoch, " ended with a non-finite loss (training ", m.loss, ", test ",
                           m.test_loss, "); nothing was written");
    ++epoch_;
    if (writes_files()) std::filesystem::create_directories(options_.out_dir);
    for (TrainingCallback* cb : callbacks()) stop_requested_ = cb->on_epoch_end(m) || stop_requested_;
    return m;
  }

  /// Trains until `options.epochs` epochs are done (counting those of a resumed run); calls
  /// `on_epoch` after each. Checks the datasets first (DataError naming the set and example).
  std::vector<EpochMetrics> run(const LabelledImages<T>& train, const LabelledImages<T>* validation = nullptr,
                                const LabelledImages<T>* test = nullptr,
                                const std::function<void(const EpochMetrics&)>& on_epoch = {}) {
    check_dataset(train, "the training set", true);
    if (validation) check_dataset(*validation, "the validation set", false);
    if (test) check_dataset(*test, "the test set", false);
    if (writes_files()) {
      // Temporary files of writes killed midway (see write_file_atomically) are garbage.
      remove_stale_temporaries(checkpoint_path());
      remove_stale_temporaries(metrics_path());
    }
    std::vector<EpochMetrics> all;
    stop_requested_ = false;
    while (epoch_ < options_.epochs && !stop_requested_) {
      for (TrainingCallback* cb : callbacks()) cb->on_epoch_begin(epoch_);
      all.push_back(train_epoch(train, validation, test));
      if (on_epoch) on_epoch(all.back());
    }
    return all;
  }

  std::filesystem::path checkpoint_path() const { return options_.out_dir / "checkpoint.bin"; }
  std::filesystem::path metrics_path() const { return options_.out_dir / "metrics.csv"; }

  /// The run's state now.
  Checkpoint<T> make_checkpoint() const {
    Checkpoint<T> c;
    c.model_kind = options_.model_kind;
    c.model_options = options_.model_options;
    c.blocks = model_.param_blocks();
    ByteWriter w;
    optimizer_.save(w);
    if (has_average()) {
      // The checkpoint's parameters are the evaluated ones (what `ebm relax` and `inspect` load);
      // the optimizer's iterate, which training continues from, follows the optimizer's state.
      c.params = optimizer_.average();
      w.put_vector(model_.params());
    } else {
      c.params = model_.params();
    }
    c.optimizer_state = w.bytes();
    c.epoch = epoch_;
    c.step = step_;
    c.seed = options_.seed;
    c.config = options_.config_text;
    return c;
  }

  /// Continues the run saved in `path`: parameters, optimizer state, epoch and step. The model
  /// must have the checkpoint's shape and the run the checkpoint's seed. Metrics rows after the
  /// checkpoint's epoch (from an interrupted epoch) are dropped.
  void resume(const std::filesystem::path& path) {
    const Checkpoint<T> c = read_checkpoint<T>(path);
    require<DataError>(c.model_kind == options_.model_kind, path.string(), ": field 'model_kind' is ", c.model_kind,
                       " but this run's model.kind is ", options_.model_kind);
    require_same_blocks(c.blocks, model_.param_blocks(), path.string());
    require<DataError>(c.params.size() == model_.params().size(), path.string(), ": field 'params' has ",
                       c.params.size(), " entries, the model ", model_.params().size());
    require<DataError>(c.seed == options_.seed, path.string(), ": field 'seed' is ", c.seed,
                       " but this run's data.seed is ", options_.seed, "; resuming with another seed is not exact");
    ByteReader state(c.optimizer_state, path.string());
    optimizer_.load(state);
    if (optimizer_.averaging() && optimizer_.steps() > 0) {
      model_.params() = state.template get_vector<T>("optimizer.training_iterate", c.params.size());
      optimizer_.average() = c.params;
    } else {
      model_.params() = c.params;
    }
    epoch_ = c.epoch;
    step_ = c.step;
    for (TrainingCallback* cb : callbacks()) cb->on_resume(epoch_);
  }

 private:
  bool has_average() const { return optimizer_.averaging() && optimizer_.steps() > 0; }

  /// The chunks of a batch of `n` columns, shared among the group's processes (if any) and run
  /// in parallel within each; see chunks_across.
  template <class Run, class Put, class Get>
  auto across(Index n, Run&& run, Put&& put, Get&& get) const {
    return chunks_across(
        options_.group.get(), n, options_.parallel.chunk,
        [this](Index count, auto&& f) { arena_.parallel_for(count, f); }, run, put, get);
  }

  /// While alive, the model holds the optimizer's moving average of the weights (when it keeps
  /// one) instead of the training iterate; restore() (or the destructor, on an exception) puts the
  /// iterate back. Copies into the model's own buffer, which keeps its address (a model may hold
  /// views of it).
  class AveragedWeights {
   public:
    explicit AveragedWeights(Trainer& t) : t_(t), active_(t.has_average()) {
      if (!active_) return;
      iterate_ = t_.model_.params();
      t_.model_.params() = t_.optimizer_.average();
    }
    ~AveragedWeights() { restore(); }
    AveragedWeights(const AveragedWeights&) = delete;
    AveragedWeights& operator=(const AveragedWeights&) = delete;
    void restore() {
      if (active_) t_.model_.params() = iterate_;
      active_ = false;
    }

   private:
    Trainer& t_;
    bool active_;
    Vector<T> iterate_;
  };

  /// Σ over the chunks of the estimator's full-size estimate, then one optimizer step.
  EstimateSummary train_batch_per_chunk() {
    const Index batch = x_.cols();
    const Index params = model_.params().size();
    const long base = step_ * long(options_.batch_size);  // distinct example numbers across the run
    struct Chunk {
      Vector<T> grad;
      EstimateSummary summary;
    };
    auto put = [](Index, const Chunk& c, ByteWriter& w) { w.put_vector(c.grad), put_summary(w, c.summary); };
    auto get = [&](Index, ByteReader& r) {
      Chunk c;
      c.grad = r.template get_vector<T>("gradient", params);
      c.summary = get_estimate_summary(r);
      return c;
    };
    std::vector<Chunk> chunks = across(batch, [&](Index first, Index count) {
      Chunk c;
      c.grad = Vector<T>::Zero(params);
      Matrix<T> s = Matrix<T>::Zero(model_.state_size(), count);
      c.summary = estimator_.estimate(model_, x_.middleCols(first, count), target_.middleCols(first, count), s,
                                      c.grad, Index(base) + first);
      return c;
    }, put, get);
    grad_.setZero(params);
    EstimateSummary merged;
    for (const Chunk& c : chunks) {  // chunk order: the same sum for any thread count
      grad_ += c.grad;
      merged.merge(c.summary);
      count_chunk(c.summary);
    }
    grad_ /= T(batch);
    check_gradient();
    largest_param_ = double(optimizer_.step(model_.params(), grad_));
    ++step_;
    return merged;
  }

  /// The fast path: the chunks' relaxations in parallel, then the Hebbian difference of the whole
  /// minibatch, tile by tile in parallel (HasTiledHebbian), then the optimizer on each tile. The
  /// tiles depend on the model's sizes only, so the result is the same for any thread count.
  /// `next`: the examples of `data` the next minibatch takes, gathered here, in parallel (empty: none).
  EstimateSummary train_batch_tiled(const LabelledImages<T>& data, std::span<const Index> next)
    requires kTiled
  {
    const Index batch = x_.cols();
    const Index params = model_.params().size();
    const long base = step_ * long(options_.batch_size);
    s_a_.resize(model_.state_size(), batch);
    s_b_.resize(model_.state_size(), batch);
    // Between processes, a chunk's result is its summary and its two states (what the tiled
    // Hebbian difference of the whole minibatch needs), not a gradient: far fewer bytes.
    const Index chunk = options_.parallel.chunk;
    auto put = [&](Index c, const EstimateSummary& s, ByteWriter& w) {
      const Index first = c * chunk, count = std::min(chunk, batch - first);
      put_summary(w, s);
      const auto n = std::size_t(count * s_a_.rows());  // the columns are contiguous
      w.put_raw(s_a_.col(first).data(), n);
      w.put_raw(s_b_.col(first).data(), n);
    };
    // The rates of the Hebbian difference, column by column as each chunk's states arrive, where
    // the model can (inside the parallel relaxations rather than after them, serially).
    constexpr bool kRatesInChunks = HasPartialHebbianRates<M>;
    if constexpr (kRatesInChunks) model_.resize_hebbian_rates(batch, rates_);
    // And where the model can, the scan for the bound on the Hebbian difference (see apply_at_once
    // below), chunk by chunk: a chunk not scanned keeps its NaN, which sends the step down the
    // checked path.
    constexpr bool kBoundInChunks = HasPartialHebbianBound<M>;
    if constexpr (kBoundInChunks)
      chunk_largest_.assign(std::size_t((batch + chunk - 1) / chunk), std::numeric_limits<double>::quiet_NaN());
    auto rates_part = [&](const auto& s_a, const auto& s_b, Index first, Index count) {
      if constexpr (kRatesInChunks) model_.hebbian_rates_part(s_a, s_b, first, rates_);
      if constexpr (kBoundInChunks)
        chunk_largest_[std::size_t(first / chunk)] = model_.hebbian_largest(rates_, x_, first, count);
    };
    // The chunks' states go to s_a_ and s_b_ only where something reads them there: the messages
    // between processes (put and get), or the rates of the whole batch. In one process with the
    // rates made in the chunks, the copy was 100 KB of writes per chunk (25 examples of
    // 784-512-10). Across processes, get() makes every chunk's rates, this process's own
    // included, from the states the messages carry, so the chunks do not make them as well.
    const bool across_processes = options_.group && options_.group->size() > 1;
    const bool keep_states = !kRatesInChunks || across_processes;
    auto get = [&](Index c, ByteReader& r) {
      const Index first = c * chunk, count = std::min(chunk, batch - first);
      EstimateSummary s = get_estimate_summary(r);
      r.get_raw(s_a_.col(first).data(), std::size_t(count * s_a_.rows()), "free state");
      r.get_raw(s_b_.col(first).data(), std::size_t(count * s_b_.rows()), "nudged state");
      rates_part(s_a_.middleCols(first, count), s_b_.middleCols(first, count), first, count);
      return s;
    };
    constexpr bool kDriven = HasPartialInputDrive<M> && requires(Matrix<T>& m) {
      estimator_.relax_pair_driven(model_, x_, x_, x_, m, m, m, Index(0));
    };
    if constexpr (kDriven) batch_drive();
    std::vector<EstimateSummary> chunks =
        across(batch, [&](Index first, Index count) {
          Matrix<T> s = Matrix<T>::Zero(model_.state_size(), count), s_a, s_b;
          EstimateSummary summary;
          if constexpr (kDriven)
            summary = estimator_.relax_pair_driven(model_, x_.middleCols(first, count), drive_.middleCols(first, count),
                                                   target_.middleCols(first, count), s, s_a, s_b,
                                                   Index(base) + first);
          else
            summary = estimator_.relax_pair(model_, x_.middleCols(first, count), target_.middleCols(first, count), s,
                                            s_a, s_b, Index(base) + first);
          if (keep_states) {
            s_a_.middleCols(first, count) = s_a;
            s_b_.middleCols(first, count) = s_b;
          }
          if (!across_processes) rates_part(s_a, s_b, first, count);
          return summary;
        }, put, get);
    EstimateSummary merged;
    for (const EstimateSummary& c : chunks) {
      merged.merge(c);
      count_chunk(c);
    }
    if constexpr (!kRatesInChunks) model_.hebbian_rates(s_a_, s_b_, x_, rates_);
    const T scale = T(1.0 / (estimator_.pair_divisor() * double(batch)));
    const Index tiles = model_.param_tile_count();
    // A failed step must leave the parameters as they were. Where the model bounds the gradient's
    // entries from the rates and the input, and the bound shows that no tile can be non-finite,
    // each tile is applied as soon as it is computed, from a buffer of the thread's that stays in
    // cache (below). Otherwise every tile is computed into the parameter-sized gradient and checked
    // before any tile moves.
    bool apply_at_once = false;
    if constexpr (HasHebbianBound<M>) {
      double bound;
      if constexpr (kBoundInChunks) {
        double largest = 0;
        for (const double v : chunk_largest_) largest = largest_or_nan(largest, v);
        bound = model_.hebbian_bound_from(largest, batch);
      } else {
        bound = model_.hebbian_bound(rates_, x_);
      }
      apply_at_once = bound * double(scale) <= 0.25 * double(std::numeric_limits<T>::max());
    }
    // Tile i of the scaled gradient into out[0, size): the one computation of both paths, so that
    // they give the same bits.
    auto gradient_tile = [&](Index i, T* out) {
      model_.param_gradient_difference_tile(rates_, x_, i, out);
      Eigen::Map<Vector<T>>(out, model_.param_tile(i).size) *= scale;
    };
    if (!apply_at_once) {
      grad_.resize(params);
      tile_finite_.assign(std::size_t(tiles), 1);
      arena_.parallel_for(tiles, [&](Index i) {
        const Block tile = model_.param_tile(i);
        gradient_tile(i, grad_.data() + tile.offset);
        tile_finite_[std::size_t(i)] = detail::all_finite(grad_.segment(tile.offset, tile.size)) ? 1 : 0;
      });
      if (std::find(tile_finite_.begin(), tile_finite_.end(), 0) != tile_finite_.end()) check_gradient();
    }
    optimizer_.begin_step();
    tile_largest_.assign(std::size_t(tiles), T(0));
    // With the updates, kGatherTasks more tasks gather the next minibatch (see gather_part), which
    // would otherwise wait on memory serially before it.
    const Index next_size = Index(next.size());
    if (next_size > 0) {
      x_next_.resize(x_.rows(), next_size);
      target_next_.setZero(target_.rows(), next_size);
    }
    // Each tile of W₁ on the thread whose stage of the drive reads its columns (see batch_drive).
    const std::vector<int>& owners = tile_owners();
    auto owner = [&](Index i) { return i < Index(owners.size()) ? owners[std::size_t(i)] : -1; };
    arena_.parallel_for_owned(tiles + kGatherTasks, owner, [&](Index i) {
      if (i >= tiles) {
        const Index part = (next_size + kGatherTasks - 1) / kGatherTasks, from = (i - tiles) * part;
        if (from < next_size) {
          const Index count = std::min(part, next_size - from);
          gather_part(data, next, from, count, x_next_, target_next_);
          augment_part(options_.augment, next, std::uint64_t(epoch_), from, count, x_next_);
        }
        return;
      }
      const Block tile = model_.param_tile(i);
      if (!apply_at_once) {
        tile_largest_[std::size_t(i)] =
            optimizer_.update(model_.params().data(), grad_.data() + tile.offset, tile.offset, tile.size);
        return;
      }
      // The tile goes from a thread's buffer (128 KiB, reused tile after tile, so it stays in L2) to
      // the optimizer, where the path above writes a parameter-sized gradient (1.6 MB for
      // 784-512-10) and reads it back from L3 after every tile is done.
      static thread_local Vector<T> buffer;
      buffer.resize(tile.size);
      gradient_tile(i, buffer.data());
      tile_largest_[std::size_t(i)] = optimizer_.update(model_.params().data(), buffer.data(), tile.offset, tile.size);
    });
    if (next_size > 0) gathered_next_ = {&data, next.data()};
    largest_param_ = 0;
    for (const T v : tile_largest_) largest_param_ = largest_or_nan(largest_param_, double(v));
    ++step_;
    return merged;
  }

  /// drive_ = the model's input drive of the whole minibatch (HasPartialInputDrive), in tiles of
  /// kDriveRows rows shared among the threads: each tile packs its own rows of W₁ once per
  /// minibatch, where a drive per chunk packed all of W₁ once per chunk (10% of an epoch's
  /// profile). The tiles depend on the sizes only: the same bits for any number of threads.
  void batch_drive()
    requires HasPartialInputDrive<M>
  {
    const Index rows = model_.input_drive_rows();
    drive_.resize(rows, x_.cols());
    if constexpr (HasPipelinedInputDrive<M>) {
      // On several threads: thread t sums the input units of its stage (its tiles' columns of W₁,
      // see tile_owners) into each block of rows, after thread t − 1 has summed the units before
      // them, so each entry is the same chain of multiply-adds whoever runs which stage. Every
      // thread then reads only its own columns of W₁, the ones it updates: split by rows, as
      // below, each thread read half of each column, and the update moved half of W₁ from one
      // core's cache to the other's every minibatch (README, Benchmarks).
      const std::vector<Index>& bounds = stage_bounds();
      if (bounds.size() > 2) {
        // Groups of kPipelineRows rows by a part of the examples: more groups shrink the
        // pipeline's bubble (1/(groups + 1) of the drive with 2 threads), where fewer rows would
        // cut the product's register blocks. The parts are cut at multiples of the product's
        // register block of columns, so that together they run the column blocks of the whole,
        // and each part holds two blocks or more.
        constexpr Index block = kUnpackedProductColumns;
        const Index examples = x_.cols();
        const Index parts = std::clamp<Index>(examples / (2 * block), 1, kPipelineParts);
        auto part_start = [&](Index j) {
          return j == parts ? examples : (j * examples / parts + block / 2) / block * block;
        };
        const Index groups = (rows + kPipelineRows - 1) / kPipelineRows * parts;
        arena_.pipeline(Index(bounds.size()) - 1, groups, [&](Index stage, Index g) {
          const Index first = g / parts * kPipelineRows, count = std::min(kPipelineRows, rows - first);
          const Index from = part_start(g % parts), n = part_start(g % parts + 1) - from;
          const Index k = bounds[std::size_t(stage)];
          model_.input_drive_stage(x_.middleCols(from, n), first, count, k, bounds[std::size_t(stage) + 1] - k,
                                   drive_.block(first, from, count, n));
        });
        return;
      }
    }
    const Index tiles = (rows + kDriveRows - 1) / kDriveRows;
    arena_.parallel_for(tiles, [&](Index i) {
      const Index first = i * kDriveRows, count = std::min(kDriveRows, rows - first);
      model_.input_drive_part(x_, first, count, drive_.middleRows(first, count));
    });
  }
  static constexpr Index kDriveRows = 128;
  static constexpr Index kPipelineRows = 64;  // one register block of rows with AVX-512 (4 packets of 16)
  static constexpr Index kPipelineParts = 4;  // 8 × 4 groups for 512 rows and 50 examples: a bubble of 1/33

  /// The input units each thread's stage of the drive sums (HasPipelinedInputDrive): with T
  /// threads, T + 1 bounds at boundaries of W₁'s tiles, the tiles shared out by column count;
  /// {} when there is one thread or the model has no such drive.
  const std::vector<Index>& stage_bounds() {
    if constexpr (HasPipelinedInputDrive<M>) {
      if (!stages_ready_) {
        stages_ready_ = true;
        const int threads = arena_.threads();
        const Index tiles = model_.param_tile_count(), inputs = model_.input_size();
        tile_owner_.assign(std::size_t(tiles), -1);
        if (threads < 2) return stage_bounds_;
        // The tiles of W₁ in input order, each to the stage its first column falls in once the
        // columns are cut into `threads` equal parts, rounded to the nearest tile boundary.
        std::vector<Index> bounds{0};
        for (Index i = 0; i < tiles; ++i) {
          const Block c = model_.param_tile_input_columns(i);
          if (c.size == 0) continue;
          if (c.offset != bounds.back() && int(bounds.size()) < threads) {
            // A new stage starts at c.offset when the cut falls nearer to it than to c's end.
            const Index cut = (Index(bounds.size()) * inputs + threads / 2) / threads;
            if (2 * c.offset >= 2 * cut - c.size) bounds.push_back(c.offset);
          }
          tile_owner_[std::size_t(i)] = int(bounds.size()) - 1;
        }
        bounds.push_back(inputs);
        stage_bounds_ = bounds;
      }
    }
    return stage_bounds_;
  }
  /// Per parameter tile, the thread whose stage of the drive reads its columns (−1: none).
  const std::vector<int>& tile_owners() {
    stage_bounds();
    return tile_owner_;
  }
  bool stages_ready_ = false;
  std::vector<Index> stage_bounds_;
  std::vector<int> tile_owner_;
  static constexpr Index kGatherTasks = 2;
  /// The next minibatch, gathered by train_batch_tiled, and which one it is: its data set and its
  /// indices' address in the epoch's order (null when they hold none).
  Matrix<T> x_next_, target_next_;
  struct {
    const LabelledImages<T>* data = nullptr;
    const Index* indices = nullptr;
  } gathered_next_;

  void count_chunk(const EstimateSummary& c) {
    free_steps_ += double(c.free_phase.steps_accepted);
    nudged_steps_ += double(c.nudged_phase.steps_accepted);
    free_norm_ += c.free_phase.final_grad_norm;
    nudged_norm_ += c.nudged_phase.final_grad_norm;
    proposals_ += c.free_phase.proposals + c.nudged_phase.proposals;
    accepted_ += c.free_phase.accepted + c.nudged_phase.accepted;
    ++chunk_count_;
  }

  /// Throws DivergenceError naming the first gradient entry that is not finite (block and position).
  void check_gradient() const {
    const std::string where = describe_non_finite(grad_, model_.param_blocks());
    if (where.empty()) return;
    // A stream, not operator+: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
    std::ostringstream o;
    o << "the gradient estimate of step " << step_ + 1 << " is not finite: " << where
      << " (lower the learning rate or β, or tighten the relaxations)";
    throw DivergenceError(o.str());
  }

  /// "epoch 3, minibatch 5 of 10 (optimizer step 25)" for the step about to be taken.
  std::string where_in_run(Index b, Index batches, long step_before) const {
    return "epoch " + std::to_string(epoch_ + 1) + ", minibatch " + std::to_string(b + 1) + " of " +
           std::to_string(batches) + " (optimizer step " + std::to_string(step_before + 1) + ")";
  }

  /// Runs one minibatch; a divergence or a non-finite gradient becomes a TrainingFault saying
  /// where in the run it happened, and which training example the relaxation's "example N" is.
  template <class F>
  EstimateSummary guarded(Index b, const Minibatches& batches, F&& f) {
    const long step_before = step_;
    try {
      return f();
    } catch (const DivergenceError& e) {
      std::string message = where_in_run(b, batches.size(), step_before) + ": " + e.what();
      // Relaxations number examples across the run (step × batch size + column, see train_batch):
      // the site's example is translated to the index in the training set.
      const long number = e.site().example;
      const long n = number - step_before * long(options_.batch_size);
      const auto batch = batches[b];
      if (number >= 0 && n >= 0 && n < long(batch.size()))
        message += " (example " + std::to_string(number) + " of the run is training example " +
                   std::to_string(batch[std::size_t(n)]) + ")";
      throw TrainingFault(message);
    } catch (const TrainingFault&) {
      throw;
    } catch (const InvalidOptions&) {
      throw;  // about the configuration, not about this minibatch
    } catch (const Error& e) {
      // Any other failure of an estimator (an adjoint solve that fails, …): say where in the run.
      throw TrainingFault(where_in_run(b, batches.size(), step_before) + ": " + e.what());
    }
  }

  Evaluation guarded_evaluate(const std::string& what, const LabelledImages<T>& data, Index limit = 0) const {
    try {
      return evaluate(data, limit);
    } catch (const DivergenceError& e) {
      throw TrainingFault(what + ": " + e.what());
    }
  }

  /// Counts (or, with on_unconverged = fail, refuses) relaxations that stopped on their budget
  /// before their tolerance.
  void check_convergence(const EstimateSummary& s, Index b, Index batches, long step_before, EpochMetrics& m) const {
    // A Langevin phase samples for its steps: it has no tolerance to miss.
    auto missed = [](const RelaxSummary& r, double tol) {
      return tol > 0 && r.examples > 0 && !is_langevin(r.method) &&
             (r.termination == Termination::step_budget || r.termination == Termination::time_horizon ||
              r.termination == Termination::stalled);
    };
    const bool free = missed(s.free_phase, options_.eval_relax.grad_tol);
    const bool nudged = missed(s.nudged_phase, options_.nudged_grad_tol);
    m.free_unconverged += free;
    m.nudged_unconverged += nudged;
    if (options_.on_unconverged == OnUnconverged::fail && (free || nudged)) {
      const RelaxSummary& r = free ? s.free_phase : s.nudged_phase;
      std::ostringstream o;
      const char* phase = free ? "free" : "nudged";
      // What stopped it, and the field that sets it.
      const auto [limit, field] = r.termination == Termination::step_budget ? std::pair{"step budget", "max_steps"}
                                  : r.termination == Termination::stalled   ? std::pair{"stall test", "stall_steps"}
                                                                            : std::pair{"time horizon", "t_max"};
      o << where_in_run(b, batches, step_before) << ": the " << phase << " relaxation did not converge: it stopped on its "
        << limit << " (relax." << phase << '.' << field << ") with max |dF/ds| = "
        << r.final_grad_norm << ", above relax." << phase
        << ".grad_tol = " << (free ? options_.eval_relax.grad_tol : options_.nudged_grad_tol)
        << " (relax.on_unconverged = \"fail\"; raise the budget, or set it to \"warn\")";
      throw TrainingFault(o.str());
    }
  }

  void check_dataset(const LabelledImages<T>& data, const std::string& what, bool must_have_examples) const {
    require<DataError>(!must_have_examples || data.size() > 0, what, " is empty: nothing to train on");
    if (data.size() == 0) return;
    require<DimensionMismatch>(data.images.rows() == model_.input_size(), what, " has ", data.images.rows(),
                               " pixels per example but the model has ", model_.input_size(), " inputs");
    require_valid_dataset(data, what, int(model_.output_block().size));
  }

  /// The callbacks in the order they run: the built-in files first (metrics.csv, checkpoint),
  /// then the ones added.
  std::vector<TrainingCallback*> callbacks() {
    std::vector<TrainingCallback*> all;
    if (metrics_csv_) all.push_back(metrics_csv_.get());
    if (checkpointer_) all.push_back(checkpointer_.get());
    for (const auto& cb : added_) all.push_back(cb.get());
    return all;
  }

  M& model_;
  const E& estimator_;
  Optimizer<T>& optimizer_;
  TrainerOptions options_;
  C cost_;
  long epoch_ = 0;
  long step_ = 0;
  std::unique_ptr<MetricsCsv> metrics_csv_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::vector<std::shared_ptr<TrainingCallback>> added_;
  bool stop_requested_ = false;
  double free_steps_ = 0, nudged_steps_ = 0, free_norm_ = 0, nudged_norm_ = 0;
  long proposals_ = 0, accepted_ = 0;  ///< MALA moves in the epoch's training phases
  long chunk_count_ = 0;
  mutable ThreadArena arena_{options_.parallel.threads};  // evaluate() is const and parallel too
  // Buffers reused by every minibatch: no allocation (nor page faults) per step.
  Matrix<T> x_, target_, s_a_, s_b_, drive_;
  Vector<T> grad_;
  std::vector<T> tile_largest_;    // per tile: the largest |θ| after the update
  std::vector<double> chunk_largest_;  // per chunk: the largest |rate| or |input| (HasPartialHebbianBound)
  double largest_param_ = 0;        // the largest |θ| after the last step (NaN: not known)
  std::vector<char> tile_finite_;  // per tile: its gradient is finite (written by the tile's thread)
  typename detail::RatesOf<M>::type rates_;  // of the tiled path
};

}  // namespace ebm
