#pragma once
// Shared setup of the learning tests: a small tanh network with a batch, relaxed tightly.

#include <cstdio>
#include <string>
#include <vector>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"
#include "test_util.hpp"

namespace ebm::test {

/// A tight relaxation: every difference estimator divides the fixed-point residual by β
/// (THEORY.md §0), so the tests relax to ‖∂F/∂s‖ ≤ 1e-12.
inline RelaxOptions tight_relax(double tol = 1e-12) {
  RelaxOptions o;
  o.method = Method::rk4;
  o.dt = 0.25;
  o.grad_tol = tol;
  o.max_steps = 200000;
  return o;
}

/// The reference problem of THEORY.md: [3,5,4,2] tanh, random weights and biases, a batch
/// of inputs in [0,1] and targets in [−0.8, 0.8].
struct SmallProblem {
  LayeredHopfield<double> net;
  Eigen::MatrixXd x, d;
  explicit SmallProblem(std::vector<Index> sizes = {3, 5, 4, 2}, Index batch = 4, std::uint64_t seed = 7,
                        Activation::Kind rho = Activation::Kind::tanh)
      : net(std::move(sizes), rho) {
    net.init_glorot(seed, 1.5);
    for (Index k = 1; k <= net.num_layers(); ++k)
      net.bias(k) = uniform_matrix(net.bias(k).size(), 1, -0.5, 0.5, seed, 10 + std::uint64_t(k));
    x = uniform_matrix(net.input_size(), batch, 0, 1, seed, 3);
    d = uniform_matrix(net.output_block().size, batch, -0.8, 0.8, seed, 4);
  }
  /// The free fixed point from s = 0.
  Eigen::MatrixXd free_state(const RelaxOptions& o = tight_relax()) const {
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(net.state_size(), x.cols());
    FreeSystem sys(net, x);
    relax(sys, s, o);
    return s;
  }
};

/// Prints a measured figure, so that a test run documents what it measured.
inline void report(const std::string& what, double value) { std::printf("  [measured] %s = %.4g\n", what.c_str(), value); }

/// Rows of one parameter block.
inline Eigen::VectorXd block_of(const Eigen::VectorXd& g, const ParamBlock& b) { return g.segment(b.offset, b.size()); }

}  // namespace ebm::test
