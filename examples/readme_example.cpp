// The code the README shows, compiled with every build so that it cannot go stale.
#include <iostream>

#include "core/concepts.hpp"
#include "core/system.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/relax.hpp"

// A user-defined energy: a small class, checked by a concept (here, a linear readout
// E(s; x) = ½‖s − Wx‖² whose minimum is s = Wx).
struct LinearReadout {
  using Scalar = double;
  ebm::Matrix<double> w;  // outputs × inputs
  ebm::Vector<double> theta;
  std::vector<ebm::ParamBlock> blocks;

  explicit LinearReadout(ebm::Matrix<double> weights) : w(std::move(weights)) {
    theta = Eigen::Map<ebm::Vector<double>>(w.data(), w.size());
    blocks = {{"W", 0, w.rows(), w.cols()}};
  }
  ebm::Index state_size() const { return w.rows(); }
  ebm::Index input_size() const { return w.cols(); }
  ebm::Block output_block() const { return {0, w.rows()}; }
  std::vector<ebm::Block> layer_blocks() const { return {output_block()}; }
  ebm::RowVector<double> energy(ebm::ConstRef<double> s, ebm::ConstRef<double> x) const {
    return 0.5 * (s - w * x).colwise().squaredNorm();
  }
  void state_gradient(ebm::ConstRef<double> s, ebm::ConstRef<double> x, ebm::MutRef<double> g) const {
    g = s - w * x;
  }
  void param_gradient(ebm::ConstRef<double> s, ebm::ConstRef<double> x, ebm::VectorRef<double> g) const {
    Eigen::Map<ebm::Matrix<double>>(g.data(), w.rows(), w.cols()) = -(s - w * x) * x.transpose();
  }
  const ebm::Vector<double>& params() const { return theta; }
  ebm::Vector<double>& params() { return theta; }
  const std::vector<ebm::ParamBlock>& param_blocks() const { return blocks; }
};
static_assert(ebm::check_energy_model<LinearReadout>());

int main() {
  // A layered Hopfield network 4-8-3 with logistic units, and a batch of 16 inputs.
  ebm::LayeredHopfield<double> net({4, 8, 3}, ebm::Activation::Kind::logistic);
  net.init_glorot(/*seed=*/1, /*gain=*/2.0);
  const ebm::Matrix<double> x = ebm::Matrix<double>::Constant(4, 16, 0.5);
  ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), x.cols());

  // Free phase: relax F = E(s; x) with the adaptive Dormand–Prince solver, tracing every step.
  ebm::FreeSystem free_phase(net, x);
  ebm::RelaxOptions options;
  options.method = ebm::Method::dopri5;
  options.grad_tol = 1e-10;  // dopri5 gets there when its error tolerances are tighter (see RelaxOptions)
  options.abs_tol = 1e-13;
  options.rel_tol = 1e-12;
  ebm::TraceRecorder<double> trace;
  const ebm::RelaxSummary summary = ebm::relax(free_phase, s, options, trace);
  std::cout << summary.brief_report() << '\n';

  // Nudged phase: F = E + β·½‖s_out − d‖², from the free fixed point.
  const ebm::Matrix<double> target = ebm::Matrix<double>::Constant(3, 16, 1.0);
  ebm::NudgedSystem nudged(net, x, target, /*beta=*/0.1);
  trace.set_phase("nudged");
  std::cout << ebm::relax(nudged, s, options, trace).brief_report() << '\n';
  std::cout << trace.rows().size() << " trace rows; the CSV starts:\n" << trace.csv().substr(0, 200) << "…\n";

  // The user-defined energy relaxes the same way.
  const LinearReadout readout(ebm::Matrix<double>::Identity(3, 4));
  ebm::Matrix<double> y = ebm::Matrix<double>::Zero(3, 16);
  ebm::FreeSystem readout_phase(readout, x);
  std::cout << ebm::relax(readout_phase, y, ebm::RelaxOptions{}).brief_report() << '\n';
}
