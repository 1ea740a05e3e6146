#pragma once
/// \file
/// The step-by-step comparison of Ernoult et al. (2019): in discrete time, EP's neural and synaptic
/// updates at each step of the nudged phase equal the BPTT gradients at step T − t, when the
/// dynamics derives from a primitive function; a dynamics without one does not.

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "core/error.hpp"
#include "learning/common.hpp"

namespace ebm {

/// A discrete-time dynamics s_{t+1} = step(s_t), with its vector–Jacobian product, as the
/// comparison needs: `step(s, x, out)`, `step_vjp(s, x, v, out)` = (∂step/∂s)ᵀv, `output_block()`,
/// `layer_blocks()`.
template <class D>
concept DiscreteDynamics = HasScalar<D> && requires(const D& d, const Matrix<typename D::Scalar>& s,
                                                    Matrix<typename D::Scalar>& out) {
  d.step(s, s, out);
  d.step_vjp(s, s, s, out);
  { d.output_block() } -> std::convertible_to<Block>;
  { d.layer_blocks() } -> std::convertible_to<std::vector<Block>>;
};

/// Dynamics with parameters: `param_vjp(s, x, v, g)` = Σ_batch (∂step/∂θ)ᵀv and `phi_param_gradient(s, x, g)`
/// = Σ_batch ∂Φ/∂θ, Φ the primitive (s_{t+1} = ∂Φ/∂s(s_t)).
template <class D>
concept HasPrimitiveParams = DiscreteDynamics<D> && requires(const D& d, const Matrix<typename D::Scalar>& s,
                                                             Vector<typename D::Scalar>& g) {
  d.param_vjp(s, s, s, g);
  d.phi_param_gradient(s, s, g);
  { d.param_size() } -> std::convertible_to<Index>;
};

/// The discrete dynamics of an energy model with primitive \f$ \Phi = \tfrac12\lVert s\rVert^2 - \varepsilon E \f$:
/// \f[ s_{t+1} = \frac{\partial\Phi}{\partial s}(s_t) = s_t - \varepsilon\,\frac{\partial E}{\partial s}(s_t), \qquad
///     \frac{\partial s_{t+1}}{\partial s_t} = I - \varepsilon H, \qquad
///     \frac{\partial\Phi}{\partial\theta} = -\varepsilon\frac{\partial E}{\partial\theta}. \f]
/// The Jacobian is the symmetric Hessian of Φ: this is what makes EP's forward-time updates equal
/// BPTT's backward-time gradients.
template <class M>
  requires EnergyModel<M> && HasSecondOrder<M>
class PrimitiveDynamics {
 public:
  using Scalar = typename M::Scalar;
  using T = Scalar;
  PrimitiveDynamics(const M& model, double epsilon) : model_(model), eps_(T(epsilon)) {
    require<InvalidOptions>(epsilon > 0, "step_by_step.epsilon must be positive, got ", epsilon);
  }
  Block output_block() const { return model_.output_block(); }
  std::vector<Block> layer_blocks() const { return model_.layer_blocks(); }
  Index param_size() const { return model_.params().size(); }
  const std::vector<ParamBlock>& param_blocks() const { return model_.param_blocks(); }

  void step(ConstRef<T> s, ConstRef<T> x, MutRef<T> out) const {
    model_.state_gradient(s, x, out);
    out = s - eps_ * out;
  }
  void step_vjp(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, MutRef<T> out) const {
    model_.hessian_vector(s, x, v, out);
    out = v - eps_ * out;
  }
  void param_vjp(ConstRef<T> s, ConstRef<T> x, ConstRef<T> v, VectorRef<T> g) const {
    model_.mixed_vector(s, x, v, g);
    g *= -eps_;
  }
  void phi_param_gradient(ConstRef<T> s, ConstRef<T> x, VectorRef<T> g) const {
    model_.param_gradient(s, x, g);
    g *= -eps_;
  }

 private:
  const M& model_;
  T eps_;
};

/// EP's updates and BPTT's gradients at each step t = 0…K−1 (all summed over the batch where
/// they concern θ), and their per-layer / per-block RMSE.
template <class T>
struct StepByStep {
  std::vector<Matrix<T>> ep_s;        ///< ΔEP_s(β, t)
  std::vector<Matrix<T>> bptt_s;      ///< ∇BPTT_s(t) = ∂L/∂s_{T−t}
  std::vector<Vector<T>> ep_theta;    ///< ΔEP_θ(β, t) (empty without parameters)
  std::vector<Vector<T>> bptt_theta;  ///< ∇BPTT_θ(t) = ∂L/∂θ_{T−t}
  std::vector<double> rmse_s;         ///< per layer
  std::vector<double> rmse_theta;     ///< per parameter block (when given)
};

/// Ernoult et al.'s RMSE of ΔEP against −∇BPTT over the steps, for one group of rows:
/// \f$ \sqrt{\sum_t\lVert\Delta^{EP}_t + \nabla^{BPTT}_t\rVert^2} / \sqrt{\max(\sum_t\lVert\Delta^{EP}_t\rVert^2, \sum_t\lVert\nabla^{BPTT}_t\rVert^2)} \f$.
template <class A>
double step_rmse(const std::vector<A>& ep, const std::vector<A>& bptt, Index offset, Index size) {
  double diff = 0, e = 0, b = 0;
  for (std::size_t t = 0; t < ep.size(); ++t) {
    diff += double((ep[t].middleRows(offset, size) + bptt[t].middleRows(offset, size)).squaredNorm());
    e += double(ep[t].middleRows(offset, size).squaredNorm());
    b += double(bptt[t].middleRows(offset, size).squaredNorm());
  }
  const double scale = std::max(e, b);
  return scale > 0 ? std::sqrt(diff / scale) : 0.0;
}

/// The comparison of Ernoult et al. (2019), Theorem 1 (GDU property). The free phase is assumed to
/// sit at `s_star` (a fixed point of the dynamics) for its last K steps; the nudged phase is
/// \f[ s^\beta_0 = s^*, \qquad s^\beta_{t+1} = \mathrm{step}(s^\beta_t) - \beta\,\partial C/\partial s(s^\beta_t), \f]
/// \f$ \Delta^{EP}_s(\beta, t) = (s^\beta_{t+1} - s^\beta_t)/\beta \f$ and
/// \f$ \Delta^{EP}_\theta(\beta, t) = (\partial_\theta\Phi(s^\beta_{t+1}) - \partial_\theta\Phi(s^\beta_t))/\beta \f$;
/// BPTT runs back from L = C(s_T). For a primitive dynamics ΔEP(β, t) → −∇BPTT(t) as β → 0.
/// The un-nudged steps from s* are subtracted from the nudged ones, which removes the fixed point's
/// residual from every difference: ΔEP_s(β, 0) is then −∂C/∂s(s*) to rounding, and a layer the
/// nudge has not reached has exactly zero update.
template <DiscreteDynamics D, class C = SquaredError<typename D::Scalar>>
StepByStep<typename D::Scalar> step_by_step(const D& dynamics, ConstRef<typename D::Scalar> x,
                                            ConstRef<typename D::Scalar> target,
                                            const Matrix<typename D::Scalar>& s_star, double beta, long steps,
                                            const std::vector<ParamBlock>& param_blocks = {}, const C& cost = C{}) {
  using T = typename D::Scalar;
  require<InvalidOptions>(beta != 0 && std::isfinite(beta), "step_by_step.beta must be finite and non-zero");
  require<InvalidOptions>(steps >= 1, "step_by_step.steps must be ≥ 1, got ", steps);
  const Block out = dynamics.output_block();
  auto cost_grad = [&](const Matrix<T>& s) {
    Matrix<T> g = Matrix<T>::Zero(s.rows(), s.cols());
    Matrix<T> gy(out.size, s.cols());
    cost.gradient(s.middleRows(out.offset, out.size), target, gy);
    g.middleRows(out.offset, out.size) = gy;
    return g;
  };
  StepByStep<T> r;
  const T b = T(beta);
  // Forward: nudged and un-nudged steps from s*.
  std::vector<Matrix<T>> nudged{s_star}, plain{s_star};
  Matrix<T> next(s_star.rows(), s_star.cols());
  for (long t = 0; t < steps; ++t) {
    dynamics.step(nudged.back(), x, next);
    next -= b * cost_grad(nudged.back());
    nudged.push_back(next);
    dynamics.step(plain.back(), x, next);
    plain.push_back(next);
  }
  for (long t = 0; t < steps; ++t) {
    const std::size_t u = std::size_t(t);
    r.ep_s.push_back(((nudged[u + 1] - plain[u + 1]) - (nudged[u] - plain[u])) / b);
  }
  // Backward: a_T = ∂C/∂s(s*), a_{T−t−1} = (∂step/∂s)ᵀ a_{T−t}, all at s*.
  Matrix<T> a = cost_grad(s_star), prev(s_star.rows(), s_star.cols());
  for (long t = 0; t < steps; ++t) {
    r.bptt_s.push_back(a);
    if constexpr (HasPrimitiveParams<D>) {
      Vector<T> g(dynamics.param_size());
      dynamics.param_vjp(s_star, x, a, g);
      r.bptt_theta.push_back(g);
    }
    dynamics.step_vjp(s_star, x, a, prev);
    a = prev;
  }
  if constexpr (HasPrimitiveParams<D>) {
    const Index p = dynamics.param_size();
    std::vector<Vector<T>> dphi_nudged, dphi_plain;
    for (std::size_t t = 0; t <= std::size_t(steps); ++t) {
      Vector<T> g1(p), g2(p);
      dynamics.phi_param_gradient(nudged[t], x, g1);
      dynamics.phi_param_gradient(plain[t], x, g2);
      dphi_nudged.push_back(g1 - g2);
    }
    for (std::size_t t = 0; t < std::size_t(steps); ++t) r.ep_theta.push_back((dphi_nudged[t + 1] - dphi_nudged[t]) / b);
    for (const ParamBlock& pb : param_blocks) r.rmse_theta.push_back(step_rmse(r.ep_theta, r.bptt_theta, pb.offset, pb.size()));
  }
  for (const Block& l : dynamics.layer_blocks()) r.rmse_s.push_back(step_rmse(r.ep_s, r.bptt_s, l.offset, l.size));
  return r;
}

}  // namespace ebm
