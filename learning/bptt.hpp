#pragma once
/// \file
/// Backprop through time through a discrete relaxation: the gradient of the cost at the last
/// state of the Euler steps that were actually taken. Ground truth for step-by-step comparisons
/// (Ernoult et al. 2019); truncated to K steps at the fixed point it tends to the implicit gradient.

#include <cmath>
#include <string>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "learning/common.hpp"
#include "learning/estimator.hpp"
#include "solvers/relax.hpp"

namespace ebm {

/// An observer that keeps every state a relaxation visits, with the step that led to it, so
/// that BPTT can run back through exactly those steps.
template <class T>
class StateRecorder {
 public:
  bool wants(long, double) const { return true; }
  bool observe(const TracePoint<T>& p) {
    states_.push_back(*p.state);
    if (p.step > 0) steps_.push_back(p.dt);
    return false;
  }
  const std::vector<Matrix<T>>& states() const { return states_; }
  /// steps()[t] is the Euler step from states()[t] to states()[t+1].
  const std::vector<double>& steps() const { return steps_; }
  void clear() { states_.clear(), steps_.clear(); }

 private:
  std::vector<Matrix<T>> states_;
  std::vector<double> steps_;
};

/// What backprop through a trajectory s₀ → … → s_T gives, L = Σ_batch C(s_T, d).
template <class T>
struct BpttResult {
  Vector<T> grad;                       ///< dL/dθ, θ shared by every step (Σ of step_grads)
  std::vector<Matrix<T>> state_adjoint;  ///< ∂L/∂s_t, t = 0…T
  std::vector<Vector<T>> step_grads;    ///< ∂L/∂θ_{t+1}: θ's share through the step s_t → s_{t+1}, t = 0…T−1
};

/// Backprop through the Euler steps \f$ s_{t+1} = s_t - \varepsilon_t\,\partial E/\partial s(s_t) \f$
/// (the synchronous fixed-point update is the same map):
/// \f[ a_T = \partial C/\partial s(s_T), \quad a_t = a_{t+1} - \varepsilon_t H(s_t)\,a_{t+1}, \quad
///     \frac{\partial L}{\partial\theta_{t+1}} = -\varepsilon_t M(s_t)^\top a_{t+1}. \f]
template <class M, class C = SquaredError<typename M::Scalar>>
  requires EnergyModel<M> && HasSecondOrder<M>
BpttResult<typename M::Scalar> bptt_through(const M& model, ConstRef<typename M::Scalar> x,
                                            ConstRef<typename M::Scalar> target,
                                            const std::vector<Matrix<typename M::Scalar>>& states,
                                            const std::vector<double>& steps, const C& cost = C{}) {
  using T = typename M::Scalar;
  require<DimensionMismatch>(!states.empty() && steps.size() + 1 == states.size(),
                             "bptt: a trajectory of ", states.size(), " states needs ", states.size() - 1,
                             " steps, got ", steps.size());
  const std::size_t n = steps.size();
  BpttResult<T> out;
  out.grad = Vector<T>::Zero(model.params().size());
  out.state_adjoint.resize(n + 1);
  out.step_grads.resize(n);
  out.state_adjoint[n] = detail::cost_state_gradient(model, states[n], target, cost);
  Matrix<T> hv(states[0].rows(), states[0].cols());
  Vector<T> g(out.grad.size());
  for (std::size_t t = n; t-- > 0;) {
    const Matrix<T>& a = out.state_adjoint[t + 1];
    model.mixed_vector(states[t], x, a, g);
    out.step_grads[t] = -T(steps[t]) * g;
    out.grad += out.step_grads[t];
    model.hessian_vector(states[t], x, a, hv);
    out.state_adjoint[t] = a - T(steps[t]) * hv;
  }
  return out;
}

/// Options of Bptt.
struct BpttOptions {
  /// The free relaxation to the fixed point, not differentiated through (any method).
  RelaxOptions free;
  /// Euler step ε of the differentiated steps.
  double dt = 0.5;
  /// Number K of Euler steps taken after the fixed point and differentiated through: truncated
  /// BPTT (Ernoult et al. 2019). At a fixed point the result tends to the implicit gradient as K grows.
  long steps = 100;

  static constexpr auto fields() {
    return std::tuple{
        field("dt", &BpttOptions::dt, "Euler step of the steps differentiated through", positive),
        field("steps", &BpttOptions::steps, "Euler steps after the fixed point, differentiated through", positive),
    };
  }

  bool is_valid(std::string* why = nullptr) const {
    detail::Why bad{why};
    if (!detail::nested_valid(free, "bptt.free", why)) return false;
    if (!(std::isfinite(dt) && dt > 0)) return bad("bptt.dt must be positive and finite, got ", dt);
    if (steps < 1) return bad("bptt.steps must be ≥ 1, got ", steps);
    return true;
  }
  void validate() const {
    std::string why;
    if (!is_valid(&why)) throw InvalidOptions(why);
  }
};

/// Truncated backprop through time as an estimator: relaxes the free phase, takes `steps` more
/// Euler steps recorded by a StateRecorder, and backpropagates the cost at the last one through them.
template <std::floating_point T, class C = SquaredError<T>>
class Bptt {
 public:
  explicit Bptt(BpttOptions options = {}, C cost = C{}) : options_(std::move(options)), cost_(cost) {
    options_.validate();
  }
  const BpttOptions& options() const { return options_; }

  template <class M>
    requires EnergyModel<M> && HasSecondOrder<M> && std::same_as<typename M::Scalar, T>
  EstimateSummary estimate(const M& model, ConstRef<T> x, ConstRef<T> target, Matrix<T>& s, VectorRef<T> grad,
                           Index first_example = 0) const {
    detail::check_batch(model, x, target, s, grad.size());
    FreeSystem free(model, x);
    EstimateSummary summary = detail::run_free_phase(free, target, s, options_.free, cost_, first_example);
    RelaxOptions unrolled;
    unrolled.method = Method::euler;
    unrolled.dt = options_.dt;
    unrolled.grad_tol = 0;  // take exactly `steps` steps
    unrolled.max_steps = options_.steps;
    unrolled.t_max = 2.0 * options_.dt * double(options_.steps);
    StateRecorder<T> recorder;
    Matrix<T> unrolled_state = s;
    summary.nudged_phase = relax(free, unrolled_state, unrolled, first_example, recorder);
    grad = bptt_through(model, x, target, recorder.states(), recorder.steps(), cost_).grad;
    return summary;
  }

 private:
  BpttOptions options_;
  C cost_;
};

}  // namespace ebm
