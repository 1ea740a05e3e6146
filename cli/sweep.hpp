#pragma once
/// \file
/// `ebm sweep`: many training runs of one base config, each with its own `--set` overrides (a
/// grid: the product of every `--grid FIELD=V1,V2,…`; and/or a list: each `--run F=V,G=W`), each
/// in its own folder OUT/run_NNN. Under mpirun the runs are dealt to the ranks (run i to rank
/// i mod N, one at a time per rank, each run a single-process training with TBB inside); alone,
/// one process runs them in turn. A sweep is resumable: a finished run (its `status` file says
/// so) is skipped, an interrupted one continues from its checkpoint. At the end the first rank
/// writes OUT/sweep.csv (each run's fields, status and last metrics.csv row) and OUT/sweep.png.
///
/// A run that stops on a numerical fault is a result (status `fault`), not a failure of the
/// sweep; the exit status is 0 when every run finished or faulted, 1 when a run failed otherwise.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/registry_core.hpp"
#include "cli/tool.hpp"
#include "core/atomic_file.hpp"
#include "training/collective.hpp"

namespace ebm::cli {

/// What `ebm sweep` was asked.
struct SweepArgs {
  std::string config;               ///< base config file (empty: the defaults)
  std::vector<std::string> sets;    ///< overrides of every run
  std::vector<std::string> grids;   ///< FIELD=V1,V2,…: the runs are the product of these
  std::vector<std::string> runs;    ///< F=V,G=W: one more run each
  std::string out = "sweep";
  std::string script;               ///< scripts/plot.py
};

/// Splits at `sep` outside brackets, braces and quotes: "sizes=[784,24,10],seed=2" is two parts.
inline std::vector<std::string> split_top_level(const std::string& s, char sep) {
  std::vector<std::string> parts(1);
  int depth = 0;
  char quote = 0;
  for (char ch : s) {
    if (quote) {
      if (ch == quote) quote = 0;
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
    } else if (ch == '[' || ch == '{') {
      ++depth;
    } else if (ch == ']' || ch == '}') {
      --depth;
    } else if (ch == sep && depth == 0) {
      parts.emplace_back();
      continue;
    }
    parts.back() += ch;
  }
  return parts;
}

/// One run of a sweep: its overrides, as (field, value) pairs.
using SweepPoint = std::vector<std::pair<std::string, std::string>>;

inline std::pair<std::string, std::string> split_assignment(const std::string& a, const std::string& flag) {
  const auto eq = a.find('=');
  require<InvalidOptions>(eq != std::string::npos && eq > 0 && eq + 1 < a.size(), flag, " '", a,
                          "' is not FIELD=VALUE");
  return {a.substr(0, eq), a.substr(eq + 1)};
}

/// The runs of a sweep: the grid's product (the first --grid varies slowest), then the list.
inline std::vector<SweepPoint> sweep_points(const SweepArgs& a) {
  std::vector<SweepPoint> points;
  if (!a.grids.empty()) {
    points.emplace_back();
    for (const std::string& g : a.grids) {
      const auto [field, values] = split_assignment(g, "--grid");
      std::vector<SweepPoint> next;
      for (const SweepPoint& p : points)
        for (const std::string& v : split_top_level(values, ',')) {
          require<InvalidOptions>(!v.empty(), "--grid ", g, ": an empty value");
          SweepPoint q = p;
          q.emplace_back(field, v);
          next.push_back(std::move(q));
        }
      points = std::move(next);
    }
  }
  for (const std::string& r : a.runs) {
    SweepPoint p;
    for (const std::string& part : split_top_level(r, ',')) p.push_back(split_assignment(part, "--run"));
    points.push_back(std::move(p));
  }
  require<InvalidOptions>(!points.empty(), "sweep: no runs (give --grid FIELD=V1,V2 or --run FIELD=V,…)");
  return points;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string sweep_run_name(std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "run_%03zu", i);
  return name;
}

/// The CSV field `s`, quoted when it holds a comma or a quote.
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

inline int sweep_command(const SweepArgs& a, Collective* group) {
  namespace fs = std::filesystem;
  const std::vector<SweepPoint> points = sweep_points(a);
  const int rank = group ? group->rank() : 0, size = group ? group->size() : 1;
  const fs::path out = a.out;
  // Every run's config is read and checked first, by every process alike: a bad field stops the
  // whole sweep before anything runs, with the same message everywhere.
  std::vector<RunConfig> configs;
  std::vector<std::string> fields;  // the fields the sweep varies, in first-seen order
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::vector<std::string> overrides = a.sets;
    for (const auto& [field, value] : points[i]) {
      overrides.push_back(field + "=" + value);
      if (std::find(fields.begin(), fields.end(), field) == fields.end()) fields.push_back(field);
    }
    overrides.push_back("output.dir=\"" + (out / sweep_run_name(i)).string() + "\"");
    try {
      configs.push_back(build_config(a.config, overrides));
    } catch (const InvalidOptions& e) {
      throw InvalidOptions(sweep_run_name(i) + ": " + e.what());
    }
  }
  std::cout << "sweep: " << points.size() << " runs in " << out.string() << " on " << size << " process"
            << (size > 1 ? "es" : "") << '\n'
            << std::flush;

  auto describe = [](const SweepPoint& p) {
    std::string s;
    for (const auto& [field, value] : p) s += (s.empty() ? "" : " ") + field + "=" + value;
    return s;
  };
  for (std::size_t i = std::size_t(rank); i < points.size(); i += std::size_t(size)) {
    const fs::path dir = out / sweep_run_name(i);
    fs::create_directories(dir);
    // A run folder belongs to one point: a sweep with other runs in the same folder is refused.
    const std::string point_text = describe(points[i]) + '\n';
    if (fs::exists(dir / "point.txt")) {
      require<DataError>(read_text(dir / "point.txt") == point_text, (dir / "point.txt").string(), " says '",
                         read_text(dir / "point.txt").substr(0, 200), "', not this sweep's '", describe(points[i]),
                         "': use another --out, or remove the folder");
    } else {
      write_file_atomically(dir / "point.txt", point_text);
    }
    const std::string status = fs::exists(dir / "status") ? read_text(dir / "status") : "";
    if (status.rfind("finished", 0) == 0 || status.rfind("fault", 0) == 0) {
      std::cout << sweep_run_name(i) << " (" << describe(points[i]) << "): " << status.substr(0, status.find('\n'))
                << " already, skipped\n";
      continue;
    }
    const RunConfig& c = configs[i];
    CommandArgs args;
    args.progress = false;
    if (fs::exists(dir / "checkpoint.bin")) args.resume = (dir / "checkpoint.bin").string();
    write_file_atomically(dir / "config.toml", config_to_string(c));
    int code = 1;
    std::string message;
    {
      // The run's own output goes to its train.log.
      std::ofstream log(dir / "train.log", std::ios::app);
      std::streambuf* const cout_buffer = std::cout.rdbuf(log.rdbuf());
      std::streambuf* const cerr_buffer = std::cerr.rdbuf(log.rdbuf());
      try {
        code = Registry::instance().model(c.model.kind).train(c, args);
      } catch (const std::exception& e) {
        message = e.what();
        std::cerr << "error: " << message << '\n';
      }
      std::cout.rdbuf(cout_buffer);
      std::cerr.rdbuf(cerr_buffer);
    }
    const std::string verdict = code == 0 ? "finished" : code == 2 ? "fault" : "error";
    write_file_atomically(dir / "status", verdict + (message.empty() ? "" : ": " + message) + '\n');
    std::cout << sweep_run_name(i) << " (" << describe(points[i]) << "): " << verdict
              << (args.resume.empty() ? "" : " (resumed)") << (code == 0 ? "" : ", see " + (dir / "train.log").string())
              << '\n'
              << std::flush;
  }
  if (group) group->allgather("");  // every run is over

  // Every process reads the statuses (the same files) and so returns the same status.
  bool failed = false;
  std::string header, table;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const fs::path dir = out / sweep_run_name(i);
    std::string status = fs::exists(dir / "status") ? read_text(dir / "status") : "missing\n";
    status = status.substr(0, status.find('\n'));
    failed = failed || !(status == "finished" || status == "fault");
    std::map<std::string, std::string> point(points[i].begin(), points[i].end());
    std::string row = sweep_run_name(i) + "," + csv_field(status.substr(0, status.find(':'))) + "," +
                      sweep_run_name(i);
    for (const std::string& f : fields) row += "," + csv_field(point.count(f) ? point[f] : "");
    // The last row of metrics.csv: the final metrics.
    std::ifstream metrics(dir / "metrics.csv");
    std::string line, last, first;
    std::getline(metrics, first);
    while (std::getline(metrics, line))
      if (!line.empty()) last = line;
    if (header.empty() && !first.empty()) header = first;
    table += row + "," + last + '\n';
  }
  if (rank == 0) {
    std::string head = "run,status,dir";
    for (const std::string& f : fields) head += "," + csv_field(f);
    write_file_atomically(out / "sweep.csv", head + "," + header + '\n' + table);
    std::cout << "summary in " << (out / "sweep.csv").string() << '\n' << std::flush;
    if (!a.script.empty() && plot_command(out, a.script) != 0)
      std::cout << "(no plot: see the message above)\n";
  }
  return failed ? 1 : 0;
}

}  // namespace ebm::cli
