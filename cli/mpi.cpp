// The tool under mpirun: an ebm::Collective over MPI_COMM_WORLD (training/collective.hpp), and
// how the processes start and stop together. Built only when CMake finds MPI (EBM_MPI); the
// library knows nothing of MPI.
//
// Stopping together: an error that every process meets at the same point (a bad config or data
// file, a numerical fault, which the trainer agrees on) makes each return the same status; the
// first process prints the message, the others keep their stderr to themselves. An error that
// one process meets alone (say it cannot write) leaves the others waiting in a collective call:
// after a grace period (10 s, or EBM_MPI_GRACE seconds) it prints its message and calls
// MPI_Abort, which makes mpirun stop every process with a non-zero status. mpirun itself stops
// the job when a process dies (killed, out of memory). Only the first process writes files, each atomically, so nothing on disk is torn.
#include "cli/mpi.hpp"

// The C interface only: Open MPI's deprecated C++ bindings (mpicxx.h) warn under -Wextra.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include "core/error.hpp"

namespace ebm::cli {
namespace {

/// Waits for a non-blocking operation, yielding the core after a short spin: a blocking MPI call
/// busy-polls, which takes a core away from the ranks still computing when ranks share cores
/// (and from the plotting script at the end of a sweep).
void wait(MPI_Request& request) {
  int done = 0;
  for (int polls = 0; !done; ++polls) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done && polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(polls > 2000 ? 1000 : 20));
  }
}

class MpiCollective : public Collective {
 public:
  MpiCollective() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::uint64_t bytes_received() const override { return received_; }
  std::uint64_t calls() const override { return calls_; }

  std::vector<std::string> allgather(const std::string& mine) override {
    ++calls_;
    require<Error>(mine.size() <= std::size_t(std::numeric_limits<int>::max()),
                   "MPI: a message of ", mine.size(), " bytes is beyond MPI's int counts");
    const int length = int(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    MPI_Request request;
    check(MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD, &request), "MPI_Iallgather");
    wait(request);
    long total = 0;
    for (int p = 0; p < size_; ++p) {
      offsets[std::size_t(p)] = int(total);
      total += lengths[std::size_t(p)];
    }
    require<Error>(total <= long(std::numeric_limits<int>::max()), "MPI: ", total,
                   " bytes in one all-gather is beyond MPI's int counts (use a smaller minibatch)");
    std::string all(std::size_t(total), '\0');
    check(MPI_Iallgatherv(mine.data(), length, MPI_BYTE, all.data(), lengths.data(), offsets.data(), MPI_BYTE,
                          MPI_COMM_WORLD, &request),
          "MPI_Iallgatherv");
    wait(request);
    received_ += std::uint64_t(total - length) + sizeof(int) * std::uint64_t(size_ - 1);
    std::vector<std::string> parts(static_cast<std::size_t>(size_));
    for (int p = 0; p < size_; ++p)
      parts[std::size_t(p)] = all.substr(std::size_t(offsets[std::size_t(p)]), std::size_t(lengths[std::size_t(p)]));
    return parts;
  }

 private:
  static void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, text, &n);
    throw Error(std::string(what) + " failed: " + std::string(text, std::size_t(n)));
  }
  int rank_ = 0, size_ = 1;
  std::uint64_t received_ = 0, calls_ = 0;
};

// The stderr of processes other than the first, held back (see the file comment).
std::ostringstream held_stderr;
std::streambuf* real_stderr = nullptr;
// A communicator of its own for the final barrier: it must not match a collective call of the
// training that other processes are still waiting in.
MPI_Comm finish_comm = MPI_COMM_NULL;

bool started_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

std::shared_ptr<Collective> start_mpi(int& argc, char**& argv) {
  // Run alone (not by mpirun), the tool does not start MPI at all: no singleton start-up cost.
  if (!started_by_mpirun()) return nullptr;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);  // TBB's threads never call MPI
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &finish_comm);
  auto group = std::make_shared<MpiCollective>();
  if (group->rank() != 0) real_stderr = std::cerr.rdbuf(held_stderr.rdbuf());
  return group;
}

int finish_mpi(const std::shared_ptr<Collective>& group, int status) {
  if (!group) return status;
  if (status == 0) {
    MPI_Request request;
    MPI_Ibarrier(finish_comm, &request);
    wait(request);
  } else {
    // Did every process stop (the same error everywhere), or this one alone?
    MPI_Request request;
    MPI_Ibarrier(finish_comm, &request);
    int done = 0;
    // The others meet the same error within the time of a step; 10 s by default (EBM_MPI_GRACE).
    double grace = 10;
    if (const char* g = std::getenv("EBM_MPI_GRACE")) grace = std::atof(g);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!done) {
      if (real_stderr) std::cerr.rdbuf(real_stderr);
      std::cerr << held_stderr.str() << "error: process " << group->rank() << " of " << group->size()
                << " stopped alone (status " << status << "); stopping every process\n"
                << std::flush;
      MPI_Abort(MPI_COMM_WORLD, status);
    }
  }
  if (real_stderr) std::cerr.rdbuf(real_stderr);
  MPI_Comm_free(&finish_comm);
  MPI_Finalize();
  return status;
}

}  // namespace ebm::cli
