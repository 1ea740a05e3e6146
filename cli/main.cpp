// ebm: train, relax, gradient-check and plot energy-based networks without writing C++.
//
//   ebm train --config run.toml --set data.epochs=3 --out runs/a
//   ebm relax --checkpoint runs/a/checkpoint.bin --examples 8 --out runs/a
//   ebm gradcheck --set model.activation=logistic --set model.sizes=[784,16,10] --out runs/a
//   ebm plot runs/a
//   ebm inspect runs/a/checkpoint.bin
//   ebm kinds
//
// The whole tool is ebm::cli::run (cli/tool.hpp) over the registry; this file registers the
// built-in model kinds and calls it.
#include "cli/tool.hpp"

#ifndef EBM_SOURCE_DIR
#define EBM_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  ebm::cli::register_builtins();
  return ebm::cli::run(argc, argv, EBM_SOURCE_DIR);
}
