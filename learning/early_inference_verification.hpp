#pragma once
/// \file
/// Early inference against backprop (Bengio & Fischer 2015), per layer: the estimate after k Euler
/// steps of the nudged dynamics against (a) the exact gradient and (b) BPTT truncated to the same
/// k steps of the same dynamics, and the step at which each layer's signal first appears.
///
/// Why (b) is the right partner: with Φ = ½‖s‖² − εE and the nudge −εβ∂C/∂s per step, the sum of
/// Ernoult et al.'s ΔEP_θ over the first k steps telescopes to minus early inference's estimate, and
/// ΔEP_θ(t) → −∇BPTT_θ(t) as β → 0 (THEORY.md §3): so EI_k − BPTT_k = O(β) at every k, while EI_k
/// against the exact gradient only converges as k grows (to EP's one-sided estimate, itself O(β)
/// off). BPTT_k against the exact gradient shows the truncation error.

#include <cstddef>
#include <vector>

#include "core/concepts.hpp"
#include "core/cost.hpp"
#include "learning/bptt.hpp"
#include "learning/common.hpp"
#include "learning/early_inference.hpp"
#include "core/random.hpp"

namespace ebm {

/// The estimates after each of the requested numbers of steps.
template <class T>
struct EarlyInferenceCurves {
  std::vector<long> steps;         ///< k, increasing
  std::vector<Vector<T>> estimate;  ///< early inference after k steps, (1/β)[Σ∂E/∂θ(s^β_k) − Σ∂E/∂θ(s⁰_k)]
  std::vector<Vector<T>> bptt;      ///< backprop through the last k of the un-nudged Euler steps from s⁰
  /// Per free layer (model.layer_blocks()): the first step t at which s^β_t − s⁰_t is non-zero
  /// there (−1 if never within the steps). On a layered net, output first, one layer per step.
  std::vector<long> first_change;
};

/// Runs the nudged and un-nudged Euler steps from the free fixed point `s0` once, up to the largest
/// k, and reads the estimates and truncated BPTT at every k of `steps` (increasing, ≥ 1).
template <class M, class C>
  requires EnergyModel<M> && HasSecondOrder<M>
EarlyInferenceCurves<typename M::Scalar> early_inference_curves(const M& model, ConstRef<typename M::Scalar> x,
                                                                ConstRef<typename M::Scalar> target,
                                                                const Matrix<typename M::Scalar>& s0, double beta,
                                                                double dt, const std::vector<long>& steps,
                                                                const C& cost) {
  using T = typename M::Scalar;
  require<InvalidOptions>(!steps.empty() && steps.front() >= 1, "early inference check: steps must be ≥ 1");
  for (std::size_t i = 1; i < steps.size(); ++i)
    require<InvalidOptions>(steps[i] > steps[i - 1], "early inference check: steps must increase");
  const long k_max = steps.back();
  const auto traj = early_trajectory(model, x, target, s0, beta, dt, k_max, cost);
  // BPTT through the un-nudged steps: they stay at s⁰ up to its residual, so the last k step
  // shares of one backward pass are BPTT truncated to k steps.
  const BpttResult<T> back =
      bptt_through(model, x, target, traj.free, std::vector<double>(std::size_t(k_max), dt), cost);
  EarlyInferenceCurves<T> out;
  out.steps = steps;
  const Index n = model.params().size();
  Vector<T> truncated = Vector<T>::Zero(n);
  long summed = 0;
  for (long k : steps) {
    Vector<T> g(n);
    detail::param_gradient_difference(model, traj.nudged[std::size_t(k)], traj.free[std::size_t(k)], x, g);
    out.estimate.push_back(g / T(beta));
    for (; summed < k; ++summed) truncated += back.step_grads[std::size_t(k_max - 1 - summed)];
    out.bptt.push_back(truncated);
  }
  for (const Block& layer : model.layer_blocks()) {
    long first = -1;
    for (long t = 1; t <= k_max && first < 0; ++t)
      if (traj.delta(std::size_t(t)).middleRows(layer.offset, layer.size).cwiseAbs().maxCoeff() > T(0)) first = t;
    out.first_change.push_back(first);
  }
  return out;
}

/// Early inference under Langevin noise at temperature T (Euler–Maruyama steps
/// s ← s − ε∂F/∂s + √(2Tε) ξ from s⁰), the nudged and un-nudged chains sharing their noise (common
/// random numbers: with independent noise the O(β) difference drowns, THEORY.md §6), averaged over
/// `chains` chains: the estimate after each k of `steps`. As T → 0 it tends to the deterministic
/// estimate of early_inference_curves().
template <class M, class C>
  requires EnergyModel<M>
std::vector<Vector<typename M::Scalar>> langevin_early_inference(const M& model, ConstRef<typename M::Scalar> x,
                                                                 ConstRef<typename M::Scalar> target,
                                                                 const Matrix<typename M::Scalar>& s0, double beta,
                                                                 double dt, const std::vector<long>& steps,
                                                                 double temperature, long chains, std::uint64_t seed,
                                                                 const C& cost) {
  using T = typename M::Scalar;
  require<InvalidOptions>(chains >= 1 && temperature >= 0, "langevin early inference: chains ≥ 1 and T ≥ 0");
  const Index n = model.params().size();
  std::vector<Vector<T>> mean(steps.size(), Vector<T>::Zero(n));
  NudgedSystem<M, C> nudged(model, x, target, T(beta), cost);
  FreeSystem<M> free(model, x);
  const T noise_scale = T(std::sqrt(2 * temperature * dt));
  Matrix<T> sb, sf, g(s0.rows(), s0.cols()), xi(s0.rows(), s0.cols());
  Vector<T> d(n);
  for (long c = 0; c < chains; ++c) {
    Rng rng(seed, std::uint64_t(c));
    sb = s0, sf = s0;
    std::size_t next = 0;
    for (long t = 1; t <= steps.back(); ++t) {
      for (Index i = 0; i < xi.size(); ++i) xi.data()[i] = T(rng.normal());
      nudged.gradient(sb, g);
      sb += -T(dt) * g + noise_scale * xi;
      nudged.project(sb);
      free.gradient(sf, g);
      sf += -T(dt) * g + noise_scale * xi;
      free.project(sf);
      if (t == steps[next]) {
        detail::param_gradient_difference(model, sb, sf, x, d);
        mean[next] += d / T(beta * double(chains));
        ++next;
      }
    }
  }
  return mean;
}

}  // namespace ebm
