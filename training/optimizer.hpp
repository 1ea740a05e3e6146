#pragma once
/// \file
/// First-order optimizers for the parameter updates of training: SGD (with optional momentum)
/// and Adam, each with a learning rate per parameter block (per layer), as in Scellier &
/// Bengio (2017), whose deeper layers need larger rates to learn at the pace of the first.
/// Their state (momentum, Adam moments, step count) is serialisable, so a run resumed from a
/// checkpoint continues exactly.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/denormals.hpp"
#include "core/error.hpp"
#include "core/fields.hpp"
#include "core/magnitude_scan.hpp"
#include "core/types.hpp"
#include "training/serialize.hpp"

namespace ebm {

/// The update rule.
enum class OptimizerMethod {
  sgd,   ///< \f$ v \leftarrow \mu v + g,\ \theta \leftarrow \theta - \eta v \f$ (μ = 0: plain SGD)
  adam,  ///< Kingma & Ba (2015), with bias correction
};

template <>
struct EnumNames<OptimizerMethod> {
  static constexpr std::array<std::pair<OptimizerMethod, std::string_view>, 2> values{
      {{OptimizerMethod::sgd, "sgd"}, {OptimizerMethod::adam, "adam"}}};
};

inline std::string_view to_string(OptimizerMethod m) { return enum_name(m); }
inline OptimizerMethod parse_optimizer_method(std::string_view name) {
  if (name == "sgd") return OptimizerMethod::sgd;
  if (name == "adam") return OptimizerMethod::adam;
  throw InvalidOptions("optimizer.method: unknown optimizer '" + std::string(name) + "' (expected sgd or adam)");
}

/// Options of an Optimizer; the config file's [optimizer] table maps onto it field by field.
struct OptimizerOptions {
  OptimizerMethod method = OptimizerMethod::sgd;
  /// Rate of every parameter block not given one in `learning_rates`.
  double learning_rate = 0.05;
  /// Per-block rates: empty (all use `learning_rate`), one per parameter block in the model's
  /// param_blocks() order, or one per layer k = 1…L for blocks named with a layer number
  /// (a LayeredHopfield's W_k and b_k share rate k).
  std::vector<double> learning_rates;
  /// SGD heavy-ball momentum μ in [0, 1).
  double momentum = 0.0;
  /// Adam's moment decay rates and the denominator's guard.
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  /// A parameter beyond ±divergence_bound after an update means training has diverged (a
  /// learning rate far too large): the trainer stops there rather than train on meaningless
  /// weights, which a clipped activation can keep finite for ever.
  double divergence_bound = 1e8;
  /// Polyak averaging: with a decay d > 0 the optimizer also keeps ā ← d_t·ā + (1 − d_t)·θ after
  /// step t (ā starts at the first step's θ), d_t = min(d, (1 + t)/(10 + t)), and the trainer
  /// evaluates and checkpoints ā. The warm-up of d_t (as TensorFlow's ExponentialMovingAverage
  /// with num_updates) keeps a short run from averaging in its untrained first weights.
  /// Why: at a constant rate the last minibatches move the weights by more than an epoch's
  /// progress (one epoch's test accuracy swung by ±1 point between seeds); the average keeps the
  /// progress and drops the noise of the last steps. 0 = the last weights.
  double average_decay = 0.0;
  /// Decoupled weight decay λ (AdamW, Loshchilov & Hutter 2019): each step also shrinks every
  /// parameter by its rate times λ, θ ← θ − η·λ·θ, apart from the gradient step (so Adam's
  /// normalisation does not rescale it, as it would an L2 term in the cost). Why: the long run
  /// overfits after about 20 epochs (train 96.5%, test falling); 0 = off.
  double weight_decay = 0.0;

  static constexpr auto fields() {
    using O = OptimizerOptions;
    return std::tuple{
        field("method", &O::method, "sgd (with momentum) or adam"),
        field("learning_rate", &O::learning_rate, "rate of every block not given one in learning_rates", positive),
        field("learning_rates", &O::learning_rates, "per layer (W_k and b_k share rate k) or per block; empty = all learning_rate",
              checks::Every<checks::NonNegative>{}),
        field("momentum", &O::momentum, "sgd heavy-ball momentum", checks::InRange{0, 1}),
        field("beta1", &O::beta1, "adam first-moment decay", checks::InRange{0, 1}),
        field("beta2", &O::beta2, "adam second-moment decay", checks::InRange{0, 1}),
        field("epsilon", &O::epsilon, "adam denominator guard", positive),
        field("divergence_bound", &O::divergence_bound, "a weight beyond this after a step stops training", positive),
        field("average_decay", &O::average_decay,
              "evaluate and checkpoint a moving average of the weights with this decay per step (0 = off)",
              checks::InRange{0, 1}),
        field("weight_decay", &O::weight_decay, "decoupled weight decay: each step θ ← θ − rate·weight_decay·θ (0 = off)",
              checks::NonNegative{}),
    };
  }

  /// True when every field is usable; otherwise `why` names the first bad field.
  bool is_valid(std::string* why = nullptr) const {
    if (!check_fields(*this, "optimizer.", why)) return false;
    if (method == OptimizerMethod::adam && momentum != 0) {
      if (why) *why = "optimizer.momentum applies to sgd only (adam has beta1), got " + std::to_string(momentum);
      return false;
    }
    return true;
  }
  /// Throws ebm::InvalidOptions naming the bad field.
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// The layer number at the end of a parameter block's name ("W2" → 2), or 0 if there is none.
inline long block_layer(std::string_view name) {
  std::size_t i = name.size();
  while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9') --i;
  long k = 0;
  if (i == name.size() || std::from_chars(name.data() + i, name.data() + name.size(), k).ec != std::errc{}) return 0;
  return k;
}

/// Applies OptimizerOptions to a flat parameter vector laid out in `blocks`.
template <class T>
class Optimizer {
 public:
  Optimizer(OptimizerOptions options, const std::vector<ParamBlock>& blocks, Index params)
      : options_(std::move(options)), rates_(Vector<T>::Constant(params, T(options_.learning_rate))) {
    options_.validate();
    const auto& r = options_.learning_rates;
    if (!r.empty()) {
      const bool per_block = r.size() == blocks.size();
      long layers = 0;
      for (const ParamBlock& b : blocks) layers = std::max(layers, block_layer(b.name));
      require<InvalidOptions>(per_block || std::size_t(layers) == r.size(), "optimizer.learning_rates has ",
                              r.size(), " entries: give one per parameter block (", blocks.size(),
                              ") or one per layer (", layers, ")");
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        double rate = 0;
        if (per_block) {
          rate = r[b];
        } else {
          const long k = block_layer(blocks[b].name);
          require<InvalidOptions>(k >= 1 && std::size_t(k) <= r.size(), "optimizer.learning_rates has ", r.size(),
                                  " entries: give one per parameter block (", blocks.size(),
                                  ") or one per layer (parameter block '", blocks[b].name, "' needs layer ", k, ")");
          rate = r[std::size_t(k - 1)];
        }
        rates_.segment(blocks[b].offset, blocks[b].size()).setConstant(T(rate));
      }
    }
    if (options_.method == OptimizerMethod::adam) {
      first_ = Vector<T>::Zero(params);
      second_ = Vector<T>::Zero(params);
    } else if (options_.momentum > 0) {
      first_ = Vector<T>::Zero(params);
    }
    if (averaging()) average_ = Vector<T>::Zero(params);
    // The runs of equal rate (one per block or layer), so that update() takes each rate as a
    // scalar rather than reading a vector of them alongside the parameters.
    for (Index i = 0; i < params; ++i)
      if (i == 0 || rates_[i] != rates_[i - 1]) runs_.push_back({i, rates_[i]});
  }

  /// One update of `params` along −`grad` (the mean gradient of the minibatch); returns the largest
  /// |θ| after it (NaN if any is NaN).
  T step(Vector<T>& params, const Vector<T>& grad) {
    require<DimensionMismatch>(params.size() == rates_.size() && grad.size() == rates_.size(), "optimizer: ",
                               params.size(), " parameters and ", grad.size(), " gradient entries, expected ",
                               rates_.size());
    begin_step();
    return update(params.data(), grad.data(), 0, rates_.size());
  }

  /// The same update in pieces, so that a trainer can apply it tile by tile while each tile of the
  /// gradient is still in cache, and in parallel: begin_step() once, then update() on disjoint ranges
  /// that together cover every parameter. Every rule is elementwise, so pieces that start at a
  /// whole number of SIMD packets (multiples of 8 floats with AVX2, 16 with AVX-512) give exactly
  /// the result of step(), in any order and on any thread.
  /// (Eigen's vectorised sqrt is not correctly rounded: an entry's bits depend on whether it falls
  /// in the vectorised middle of a piece or its scalar ends, so fixed pieces give fixed bits.)
  void begin_step() { ++steps_; }
  /// Updates params[begin, begin + count) from grad[0, count) (the matching slice of the gradient);
  /// returns the largest |θ| of the range after the update (NaN if any is NaN).
  T update(T* params, const T* grad_slice, Index begin, Index count) {
    require<DimensionMismatch>(begin >= 0 && count >= 0 && begin + count <= rates_.size(), "optimizer: range [",
                               begin, ", ", begin + count, ") is outside the ", rates_.size(), " parameters");
    require<InvalidOptions>(steps_ > 0, "optimizer: update() before begin_step()");
    if (count == 0) return T(0);
    const FlushDenormals flush;  // the moments of always-zero gradients decay through the subnormals
    const T c1 = T(1.0 - std::pow(options_.beta1, double(steps_)));
    const T c2 = T(1.0 - std::pow(options_.beta2, double(steps_)));
    const double decay = average_decay_now();
    // In blocks that fit in L1, each at one rate: each rule is a few Eigen passes, and per block
    // each vector comes from memory once rather than once a pass. (Measured: with the scalar
    // rates, about 3% of a training epoch; the flush above is what halved it.) The largest |θ|
    // comes for free while the block is in L1, which spares the trainer a serial pass over the
    // parameters after every step.
    constexpr Index kBlock = 512;
    auto run = std::upper_bound(runs_.begin(), runs_.end(), begin,
                                [](Index i, const RateRun& r) { return i < r.begin; }) - 1;
    LargestMagnitude<T> largest;
    for (Index done = 0; done < count;) {
      while (run + 1 != runs_.end() && (run + 1)->begin <= begin + done) ++run;
      const Index run_end = run + 1 == runs_.end() ? rates_.size() : (run + 1)->begin;
      const Index n = std::min({kBlock, count - done, run_end - (begin + done)});
      update_block(params + begin + done, grad_slice + done, begin + done, n, run->rate * factor_, c1, c2, decay);
      largest.add(params + begin + done, n);  // while the block is in L1
      done += n;
    }
    return largest.result();
  }

  const OptimizerOptions& options() const { return options_; }
  /// A factor on every rate (a learning-rate schedule sets it per epoch; training/callbacks.hpp).
  void set_rate_factor(double factor) {
    require<InvalidOptions>(std::isfinite(factor) && factor >= 0, "learning-rate factor must be finite and ≥ 0, got ",
                            factor);
    factor_ = T(factor);
  }
  double rate_factor() const { return double(factor_); }
  /// The rate of every parameter (before the factor).
  const Vector<T>& rates() const { return rates_; }
  long steps() const { return steps_; }
  /// Whether the optimizer keeps a moving average of the weights (OptimizerOptions::average_decay).
  bool averaging() const { return options_.average_decay > 0; }
  /// The decay of the current step's average update (see OptimizerOptions::average_decay).
  double average_decay_now() const {
    return std::min(options_.average_decay, (1.0 + double(steps_)) / (10.0 + double(steps_)));
  }
  /// The moving average of the weights (empty when not averaging; meaningful after a step).
  const Vector<T>& average() const { return average_; }
  Vector<T>& average() { return average_; }

  /// Writes the state (method, step count, moment vectors) for a checkpoint.
  void save(ByteWriter& out) const {
    out.put<std::uint8_t>(std::uint8_t(options_.method));
    out.put<std::int64_t>(steps_);
    out.put_vector(first_);
    out.put_vector(second_);
  }
  /// Restores a state written by save() for an optimizer with the same options and sizes.
  void load(ByteReader& in) {
    const auto method = in.get<std::uint8_t>("optimizer.method");
    require<DataError>(method == std::uint8_t(options_.method), in.source(), ": optimizer state is for ",
                       method <= 1 ? to_string(OptimizerMethod(method)) : std::string_view("an unknown optimizer"),
                       " but the run uses ", to_string(options_.method));
    const auto steps = in.get<std::int64_t>("optimizer.steps");
    require<DataError>(steps >= 0, in.source(), ": optimizer.steps is negative (", steps, ")");
    Vector<T> first = in.get_vector<T>("optimizer.first_moment", first_.size());
    Vector<T> second = in.get_vector<T>("optimizer.second_moment", second_.size());
    steps_ = steps;
    first_ = std::move(first);
    second_ = std::move(second);
  }

 private:
  /// update() on params[begin, begin + n), small enough to stay in L1 between the passes, all at
  /// one rate.
  void update_block(T* params, const T* grad_slice, Index begin, Index n, T rate, T c1, T c2, double decay) {
    Eigen::Map<Vector<T>> p(params, n);
    const Eigen::Map<const Vector<T>> g(grad_slice, n);
    // Decay first, from the parameters the gradient was taken at (AdamW's order).
    if (options_.weight_decay > 0) p.array() -= rate * T(options_.weight_decay) * p.array();
    if (options_.method == OptimizerMethod::adam) {
      const T b1 = T(options_.beta1), b2 = T(options_.beta2);
      auto m = first_.segment(begin, n);
      auto v = second_.segment(begin, n);
      m = b1 * m + (T(1) - b1) * g;
      v = b2 * v + (T(1) - b2) * g.cwiseAbs2();
      // The bias corrections m/c1 and v/c2 become x/1 once β^t ≤ 2⁻²⁵ rounds c to 1 (after 165
      // steps for β₁ = 0.9, 17 321 for β₂ = 0.999). x/1 is x exactly (m and v are results of
      // arithmetic under FlushDenormals, so never subnormal), and a division is the costliest
      // instruction of the step (measured: the update's divisions bound it): leaving out the
      // ones by 1 keeps every bit.
      auto adam = [&](const auto& m_hat, const auto& v_hat) {
        p.array() -= rate * m_hat / (v_hat.sqrt() + T(options_.epsilon));
      };
      if (c1 == T(1) && c2 == T(1))
        adam(m.array(), v.array());
      else if (c1 == T(1))
        adam(m.array(), v.array() / c2);
      else if (c2 == T(1))
        adam(m.array() / c1, v.array());
      else
        adam(m.array() / c1, v.array() / c2);
    } else if (options_.momentum > 0) {
      auto v = first_.segment(begin, n);
      v = T(options_.momentum) * v + g;
      p.array() -= rate * v.array();
    } else {
      p.array() -= rate * g.array();
    }
    if (averaging()) {
      auto a = average_.segment(begin, n);
      if (steps_ == 1) {
        a = p;
      } else {
        a = T(decay) * a + T(1 - decay) * p;
      }
    }
  }

  struct RateRun {
    Index begin;  ///< first parameter of the run
    T rate;
  };

  OptimizerOptions options_;
  Vector<T> rates_;
  std::vector<RateRun> runs_;  ///< rates_ as runs of equal rate, in order
  Vector<T> first_;   ///< SGD velocity, or Adam's first moment
  Vector<T> second_;  ///< Adam's second moment
  Vector<T> average_; ///< the moving average of the weights (average_decay > 0)
  long steps_ = 0;
  T factor_ = T(1);
};

}  // namespace ebm
