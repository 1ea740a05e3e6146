// ebm: train, relax, gradient-check and plot energy-based networks without writing C++.
//
//   ebm train --config run.toml --set data.epochs=3 --out runs/a
//   ebm relax --checkpoint runs/a/checkpoint.bin --examples 8 --out runs/a
//   ebm gradcheck --set model.activation=logistic --set model.sizes=[784,16,10] --out runs/a
//   ebm plot runs/a
//   ebm inspect runs/a/checkpoint.bin
//   ebm kinds
//   mpirun -np 4 ebm train --config run.toml --out runs/a    (each minibatch shared by 4 ranks)
//   ebm sweep --config run.toml --grid estimator.beta=0.2,0.5 --out sweeps/b
//
// The whole tool is ebm::cli::run (cli/tool.hpp) over the registry; this file registers the
// built-in model kinds and calls it.
#include "cli/tool.hpp"
#ifdef EBM_MPI
#include "cli/mpi.hpp"
#endif

#ifndef EBM_SOURCE_DIR
#define EBM_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  ebm::cli::register_builtins();
#ifdef EBM_MPI
  // Under mpirun: `train` shares each minibatch among the ranks, `sweep` its runs (cli/mpi.cpp).
  ebm::cli::world() = ebm::cli::start_mpi(argc, argv);
  const int status = ebm::cli::run(argc, argv, EBM_SOURCE_DIR);
  return ebm::cli::finish_mpi(ebm::cli::world(), status);
#else
  return ebm::cli::run(argc, argv, EBM_SOURCE_DIR);
#endif
}
