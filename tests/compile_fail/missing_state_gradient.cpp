// Must NOT compile: the model below has no state_gradient, and check_energy_model says so.
// Run by ctest (concept_names_missing_member), which expects the message in the compiler output.
#include "core/concepts.hpp"

struct NoStateGradient {
  using Scalar = double;
  ebm::Index state_size() const { return 1; }
  ebm::Index input_size() const { return 0; }
  ebm::Block output_block() const { return {0, 1}; }
  std::vector<ebm::Block> layer_blocks() const { return {{0, 1}}; }
  ebm::RowVector<double> energy(ebm::ConstRef<double> s, ebm::ConstRef<double>) const {
    return s.colwise().squaredNorm();
  }
  void param_gradient(ebm::ConstRef<double>, ebm::ConstRef<double>, ebm::VectorRef<double> g) const { g.setZero(); }
  ebm::Vector<double>& params() { return theta_; }
  const ebm::Vector<double>& params() const { return theta_; }
  const std::vector<ebm::ParamBlock>& param_blocks() const { return blocks_; }
  ebm::Vector<double> theta_;
  std::vector<ebm::ParamBlock> blocks_;
};

static_assert(ebm::check_energy_model<NoStateGradient>());
