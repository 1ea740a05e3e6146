#pragma once
/// \file
/// Starting and stopping the tool under mpirun (cli/mpi.cpp, built when CMake finds MPI). This
/// header does not include mpi.h: only cli/mpi.cpp does.

#include <memory>

#include "training/collective.hpp"

namespace ebm::cli {

/// Starts MPI when the program was started by mpirun and returns the group of its processes;
/// returns nothing (and starts nothing) otherwise. Processes other than the first hold their
/// stderr back until finish_mpi.
std::shared_ptr<Collective> start_mpi(int& argc, char**& argv);

/// Ends MPI; returns `status`, or never returns when this process stopped on an error the
/// others did not meet (it prints it and aborts every process; see cli/mpi.cpp).
int finish_mpi(const std::shared_ptr<Collective>& group, int status);

}  // namespace ebm::cli
