#pragma once
/// \file
/// Firing-rate functions ρ with their first and second derivatives.

#include <cmath>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/madd.hpp"
#include "core/types.hpp"

namespace ebm {

/// A firing-rate nonlinearity ρ, with ρ' and ρ''.
///
/// - `hard_sigmoid`: \f$\rho(s) = \min(\max(s, 0), 1)\f$, \f$\rho' = 1\f$ on \f$[0, 1]\f$
///   (closed, so that the fixed-point update is the clip of the literature), 0 outside.
///   Its kinks break the smoothness that the gradient theory assumes: verify with a smooth ρ.
/// - `logistic`: \f$\sigma(s) = 1/(1+e^{-s})\f$.
/// - `tanh`.
class Activation {
 public:
  enum class Kind { hard_sigmoid, logistic, tanh };

  constexpr Activation(Kind kind = Kind::hard_sigmoid) : kind_(kind) {}  // NOLINT: implicit by design
  constexpr Kind kind() const { return kind_; }

  std::string_view name() const {
    switch (kind_) {
      case Kind::hard_sigmoid: return "hard_sigmoid";
      case Kind::logistic: return "logistic";
      case Kind::tanh: return "tanh";
    }
    return "?";
  }

  /// Parses "hard_sigmoid", "logistic" (or "sigmoid") and "tanh".
  static Activation parse(std::string_view name) {
    if (name == "hard_sigmoid") return Kind::hard_sigmoid;
    if (name == "logistic" || name == "sigmoid") return Kind::logistic;
    if (name == "tanh") return Kind::tanh;
    throw InvalidOptions("unknown activation '" + std::string(name) +
                         "' (expected hard_sigmoid, logistic or tanh)");
  }

  template <class T> T rho(T s) const {
    switch (kind_) {
      case Kind::hard_sigmoid: return s < T(0) ? T(0) : (s > T(1) ? T(1) : s);
      case Kind::logistic: return T(1) / (T(1) + std::exp(-s));
      case Kind::tanh: return std::tanh(s);
    }
    return s;
  }
  template <class T> T d_rho(T s) const {
    switch (kind_) {
      case Kind::hard_sigmoid: return (s >= T(0) && s <= T(1)) ? T(1) : T(0);
      case Kind::logistic: {
        const T r = rho(s);
        return r * (T(1) - r);
      }
      case Kind::tanh: {
        const T r = std::tanh(s);
        return T(1) - r * r;
      }
    }
    return T(1);
  }
  template <class T> T d2_rho(T s) const {
    switch (kind_) {
      case Kind::hard_sigmoid: return T(0);
      case Kind::logistic: {
        const T r = rho(s);
        return r * (T(1) - r) * (T(1) - T(2) * r);
      }
      case Kind::tanh: {
        const T r = std::tanh(s);
        return T(-2) * r * (T(1) - r * r);
      }
    }
    return T(0);
  }

  /// out = ρ(s), elementwise. `out` must have the shape of `s`.
  template <class In, class Out> void rho(const In& s, Out&& out) const {
    switch (kind_) {
      case Kind::hard_sigmoid: out = s.array().max(0).min(1).matrix(); return;
      case Kind::logistic: out = (1 + (-s.array()).exp()).inverse().matrix(); return;
      case Kind::tanh: out = s.array().tanh().matrix(); return;
    }
  }
  /// out = ρ'(s), elementwise.
  template <class In, class Out> void d_rho(const In& s, Out&& out) const {
    using T = typename In::Scalar;
    switch (kind_) {
      case Kind::hard_sigmoid:
        out = (s.array() >= T(0) && s.array() <= T(1)).template cast<T>().matrix();
        return;
      case Kind::logistic: {
        out = (1 + (-s.array()).exp()).inverse().matrix();
        out = (out.array() * (1 - out.array())).matrix();
        return;
      }
      case Kind::tanh: out = (1 - s.array().tanh().square()).matrix(); return;
    }
  }
  /// out = ρ''(s), elementwise.
  template <class In, class Out> void d2_rho(const In& s, Out&& out) const {
    using T = typename In::Scalar;
    switch (kind_) {
      case Kind::hard_sigmoid: out.setZero(); return;
      case Kind::logistic: {
        out = (1 + (-s.array()).exp()).inverse().matrix();
        out = (out.array() * (1 - out.array()) * (1 - 2 * out.array())).matrix();
        return;
      }
      case Kind::tanh: {
        out = s.array().tanh().matrix();
        out = (T(-2) * out.array() * (1 - out.array().square())).matrix();
        return;
      }
    }
  }

  /// g ← s − ρ′(s) ⊙ g, given r = ρ(s): the last pass of a Hopfield state gradient, in one sweep
  /// and without recomputing the exponential (ρ′ = r(1 − r) for the logistic, 1 − r² for tanh).
  template <class S, class R, class G> void chain_gradient(const S& s, const R& r, G& g) const {
    using T = typename S::Scalar;
    switch (kind_) {
      case Kind::hard_sigmoid:
        // A plain loop: Eigen does not vectorise a select on two comparisons, GCC does this one.
        // ρ′ = 1 on [0, 1] and 0 outside; a NaN state fails both tests and stays NaN.
        for (Index j = 0; j < s.cols(); ++j) {
          const T* sj = s.data() + j * s.outerStride();
          T* gj = g.data() + j * g.outerStride();
          for (Index i = 0; i < s.rows(); ++i) {
            const T v = sj[i];
            const T inside = (v >= T(0) && v <= T(1)) ? T(1) : T(0);
            gj[i] = madd(-inside, gj[i], v);  // as fused_sweep.hpp rounds it (core/madd.hpp)
          }
        }
        return;
      case Kind::logistic: g.array() = s.array() - r.array() * (T(1) - r.array()) * g.array(); return;
      case Kind::tanh: g.array() = s.array() - (T(1) - r.array().square()) * g.array(); return;
    }
  }

  /// The range ρ maps onto when it is bounded by a box the dynamics never needs to leave:
  /// the hard sigmoid is constant outside [0, 1], so states there carry no information and
  /// the fixed-point update clips to it. Returns false for ρ without such a box.
  bool clip_range(double& lo, double& hi) const {
    if (kind_ != Kind::hard_sigmoid) return false;
    lo = 0.0;
    hi = 1.0;
    return true;
  }

  friend bool operator==(const Activation&, const Activation&) = default;

 private:
  Kind kind_;
};

}  // namespace ebm
