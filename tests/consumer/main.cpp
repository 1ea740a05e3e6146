// Relaxes a small network with the installed headers (tests/consumer/consumer_test.sh builds it
// against `cmake --install`'s output): what another project's first program would do.
#include <iostream>

#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"

int main() {
  ebm::LayeredHopfield<double> net({4, 8, 3}, ebm::Activation::Kind::logistic);
  net.init_glorot(/*seed=*/1, /*gain=*/2.0);
  const ebm::Matrix<double> x = ebm::Matrix<double>::Constant(4, 16, 0.5);
  ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), x.cols());
  ebm::FreeSystem free_phase(net, x);
  ebm::RelaxOptions options;
  options.method = ebm::Method::rk4;
  options.grad_tol = 1e-10;
  const ebm::RelaxSummary summary = ebm::relax(free_phase, s, options, 0);
  std::cout << summary.brief_report() << '\n';
  return summary.converged() ? 0 : 1;
}
