#pragma once
/// \file
/// Data-parallel training across processes: what a Trainer needs from the group of processes
/// that train one model together, and how it shares the chunks of a minibatch among them.
///
/// The library does not depend on MPI: a Collective is an interface (its place in the group and
/// an all-gather of bytes), which the tool implements over MPI (cli/mpi.cpp).
///
/// Bit-identity with one process: a minibatch is cut into the same chunks as in one process
/// (parallel.chunk examples each), process r relaxes a contiguous range of them, and the chunks'
/// results (their states, or their gradients, and their summaries) are all-gathered, so that
/// every process holds exactly what one process would have computed and goes on with the same
/// sums in chunk order and the same optimizer step.
///
/// Agreement on errors: a chunk that throws on one process (a divergence, a failed solve) is
/// sent to every process in place of its results, and every process throws the same error (the
/// lowest rank's), so that all stop at the same step with the same message.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"
#include "solvers/summary.hpp"
#include "learning/estimator.hpp"
#include "training/faults.hpp"
#include "training/serialize.hpp"

namespace ebm {

/// A group of processes that train one model together.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Every process's `mine`, indexed by rank (the same vector on every process); a collective
  /// call: every process of the group must make it.
  virtual std::vector<std::string> allgather(const std::string& mine) = 0;
  /// Bytes this process has received from the others so far (the communication volume).
  virtual std::uint64_t bytes_received() const = 0;
  /// Calls so far (each one collective operation).
  virtual std::uint64_t calls() const = 0;
};

/// The chunks [first, last) of `chunks` that process `rank` of `size` handles: contiguous, in
/// rank order, sizes differing by at most one (a process beyond the chunk count gets none).
inline std::pair<Index, Index> chunk_share(Index chunks, int rank, int size) {
  const Index base = chunks / size, extra = chunks % size;
  const Index first = Index(rank) * base + std::min<Index>(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

namespace detail {

/// What crosses the wire for an error: its kind (to rethrow the same type), message and site.
enum class WireError : std::uint8_t { none, divergence, training_fault, invalid_options, data, other };

inline void put_error(ByteWriter& w, std::exception_ptr e) {
  WireError kind = WireError::other;
  std::string message;
  DivergenceSite site;
  try {
    std::rethrow_exception(e);
  } catch (const DivergenceError& x) {
    kind = WireError::divergence, message = x.what(), site = x.site();
  } catch (const TrainingFault& x) {
    kind = WireError::training_fault, message = x.what();
  } catch (const InvalidOptions& x) {
    kind = WireError::invalid_options, message = x.what();
  } catch (const DataError& x) {
    kind = WireError::data, message = x.what();
  } catch (const std::exception& x) {
    message = x.what();
  } catch (...) {
    message = "unknown error";
  }
  w.put(std::uint8_t(kind));
  w.put_string(message);
  w.put(site.step), w.put(site.t), w.put(site.example), w.put(site.layer), w.put(site.unit), w.put(site.value);
}

[[noreturn]] inline void throw_error(WireError kind, ByteReader& r) {
  const std::string message = r.get_string("error message");
  DivergenceSite site;
  site.step = r.get<long>("site.step"), site.t = r.get<double>("site.t"), site.example = r.get<long>("site.example");
  site.layer = r.get<long>("site.layer"), site.unit = r.get<long>("site.unit"), site.value = r.get<double>("site.value");
  switch (kind) {
    case WireError::divergence: throw DivergenceError(message, site);
    case WireError::training_fault: throw TrainingFault(message);
    case WireError::invalid_options: throw InvalidOptions(message);
    case WireError::data: throw DataError(message);
    default: throw Error(message);
  }
}

}  // namespace detail

inline void put_summary(ByteWriter& w, const RelaxSummary& s) {
  w.put(int(s.method)), w.put(int(s.termination));
  w.put(s.steps_accepted), w.put(s.steps_rejected), w.put(s.gradient_evaluations);
  w.put(s.t_final), w.put(s.final_grad_norm), w.put(s.final_energy), w.put(s.wall_seconds);
  w.put(s.examples), w.put(s.chunks), w.put_string(s.message), w.put(s.proposals), w.put(s.accepted);
}

inline RelaxSummary get_relax_summary(ByteReader& r) {
  RelaxSummary s;
  s.method = Method(r.get<int>("method")), s.termination = Termination(r.get<int>("termination"));
  s.steps_accepted = r.get<long>("steps"), s.steps_rejected = r.get<long>("rejected");
  s.gradient_evaluations = r.get<long>("evaluations");
  s.t_final = r.get<double>("t"), s.final_grad_norm = r.get<double>("norm"), s.final_energy = r.get<double>("energy");
  s.wall_seconds = r.get<double>("seconds");
  s.examples = r.get<long>("examples"), s.chunks = r.get<long>("chunks"), s.message = r.get_string("message");
  s.proposals = r.get<long>("proposals"), s.accepted = r.get<long>("accepted");
  return s;
}

inline void put_summary(ByteWriter& w, const EstimateSummary& s) {
  put_summary(w, s.free_phase), put_summary(w, s.nudged_phase);
  w.put(s.loss), w.put(s.correct), w.put(s.examples);
}

inline EstimateSummary get_estimate_summary(ByteReader& r) {
  EstimateSummary s;
  s.free_phase = get_relax_summary(r), s.nudged_phase = get_relax_summary(r);
  s.loss = r.get<double>("loss"), s.correct = r.get<long>("correct"), s.examples = r.get<long>("examples");
  return s;
}

/// The chunks of a batch of `batch` columns (`chunk` each) shared among the processes of `group`:
/// this process runs `run(first, count)` on its own share (with `parallel_for` over them), writes
/// each result with `put(chunk_index, result, writer)`, and gets every chunk's result, in chunk
/// order, read back by `get(chunk_index, reader)` (which may also copy what `put` wrote, e.g. the
/// chunk's states, into place). Without a group (or a group of one) it is `for_each_chunk`.
/// An error on any process is thrown on every process (the lowest rank's).
template <class ParallelFor, class Run, class Put, class Get>
auto chunks_across(Collective* group, Index batch, Index chunk, ParallelFor&& parallel_for, Run&& run, Put&& put,
                   Get&& get) {
  using Result = decltype(run(Index(0), Index(0)));
  const Index chunks = (batch + chunk - 1) / chunk;
  std::vector<Result> results(static_cast<std::size_t>(chunks));
  auto cut = [&](Index c) { return std::pair{c * chunk, std::min(chunk, batch - c * chunk)}; };
  if (group == nullptr || group->size() == 1) {
    parallel_for(chunks, [&](Index c) {
      const auto [first, count] = cut(c);
      results[std::size_t(c)] = run(first, count);
    });
    return results;
  }
  // Plain variables, not a structured binding: the lambda below captures them (clang before 16
  // does not capture structured bindings, and the checked builds use clang).
  const std::pair<Index, Index> share = chunk_share(chunks, group->rank(), group->size());
  const Index begin = share.first, end = share.second;
  ByteWriter w;
  try {
    parallel_for(end - begin, [&](Index i) {
      const auto [first, count] = cut(begin + i);
      results[std::size_t(begin + i)] = run(first, count);
    });
    w.put(std::uint8_t(detail::WireError::none));
    for (Index c = begin; c < end; ++c) put(c, results[std::size_t(c)], w);
  } catch (...) {
    w = ByteWriter{};
    detail::put_error(w, std::current_exception());
  }
  const std::vector<std::string> all = group->allgather(w.bytes());
  for (const std::string& bytes : all) {  // the lowest rank's error first
    ByteReader r(bytes, "a message from another process");
    if (const auto kind = detail::WireError(r.get<std::uint8_t>("status")); kind != detail::WireError::none)
      detail::throw_error(kind, r);
  }
  for (int p = 0; p < int(all.size()); ++p) {
    ByteReader r(all[std::size_t(p)], "the results of process " + std::to_string(p));
    r.get<std::uint8_t>("status");
    const auto [first, last] = chunk_share(chunks, p, group->size());
    for (Index c = first; c < last; ++c) results[std::size_t(c)] = get(c, r);
  }
  return results;
}

}  // namespace ebm
