// Relaxes a layered Hopfield network (784-256-10) on Fashion-MNIST test images with each
// solver, prints how each converged, checks that they agree on the fixed point, and writes
// the convergence trace of one batch to CSV. Logistic units, so that every solver applies;
// then the hard-sigmoid network of the EP literature with the two solvers that suit its kinks.
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>
#include <map>

#include "core/system.hpp"
#include "data/fashion_mnist.hpp"
#include "models/layered_hopfield.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Relax a layered Hopfield network on Fashion-MNIST images with every solver"};
  std::string data_dir = ebm::kDebianFashionMnistDir.string();
  ebm::Index examples = 512;
  int threads = 0;
  int hidden = 256;
  std::string trace_path = "relax_trace.csv";
  app.add_option("--data", data_dir, "Fashion-MNIST directory")->capture_default_str();
  app.add_option("--examples", examples, "test images to relax")->check(CLI::Range(1, 10000))->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--threads", threads, "worker threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--trace", trace_path, "CSV file for the dopri5 convergence trace")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const auto test = ebm::load_fashion_mnist<double>(data_dir, "t10k");
    const ebm::Matrix<double> x = test.images.leftCols(examples);
    ebm::LayeredHopfield<double> net({784, hidden, 10}, ebm::Activation::Kind::logistic);
    net.init_glorot(/*seed=*/2026, /*gain=*/1.0);
    std::cout << "Relaxing " << examples << " Fashion-MNIST test images through a 784-" << hidden
              << "-10 logistic Hopfield network (untrained, Glorot weights), from s = 0.\n\n"
              << std::flush;

    ebm::ParallelOptions par;
    par.threads = threads;
    std::map<std::string, ebm::Matrix<double>> fixed_points;
    for (ebm::Method method : {ebm::Method::euler, ebm::Method::rk4, ebm::Method::dopri5, ebm::Method::fixed_point}) {
      ebm::RelaxOptions options;
      options.method = method;
      options.dt = method == ebm::Method::fixed_point ? 1.0 : 0.5;
      options.schedule = method == ebm::Method::fixed_point ? ebm::Schedule::alternating : ebm::Schedule::synchronous;
      options.grad_tol = 1e-8;
      options.abs_tol = 1e-10;
      options.rel_tol = 1e-10;
      ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), examples);
      const ebm::RelaxSummary summary = ebm::parallel_relax(s, par, [&](ebm::Matrix<double>& chunk, ebm::Index first) {
        ebm::FreeSystem free_phase(net, x.middleCols(first, chunk.cols()));
        return ebm::relax(free_phase, chunk, options, first);
      });
      std::cout << summary.brief_report() << ", " << summary.gradient_evaluations << " gradient evaluations\n"
                << std::flush;
      fixed_points[std::string(ebm::to_string(method))] = s;
    }

    std::cout << "\nLargest difference between the fixed points the solvers found:\n";
    const ebm::Matrix<double>& reference = fixed_points["dopri5"];
    for (const auto& [name, s] : fixed_points)
      if (name != "dopri5") std::cout << "  " << std::setw(12) << name << " vs dopri5: " << (s - reference).cwiseAbs().maxCoeff() << '\n';

    // The hard sigmoid pins units at 0 or 1; euler and fixed_point clip (projected gradient flow).
    ebm::LayeredHopfield<double> hard({784, hidden, 10}, ebm::Activation::Kind::hard_sigmoid);
    hard.params() = net.params();
    std::cout << "\nThe same weights with hard-sigmoid units (states clipped to [0, 1]):\n";
    ebm::Matrix<double> hard_euler;
    for (ebm::Method method : {ebm::Method::euler, ebm::Method::fixed_point}) {
      ebm::RelaxOptions options;
      options.method = method;
      // fixed_point with ε = 1, alternating: each layer jumps to clip(its input), the exact
      // minimum over that layer given the others (block coordinate descent on E).
      options.dt = method == ebm::Method::fixed_point ? 1.0 : 0.5;
      options.schedule = method == ebm::Method::fixed_point ? ebm::Schedule::alternating : ebm::Schedule::synchronous;
      options.max_steps = 20000;
      ebm::Matrix<double> s = ebm::Matrix<double>::Zero(hard.state_size(), examples);
      const ebm::RelaxSummary summary = ebm::parallel_relax(s, par, [&](ebm::Matrix<double>& chunk, ebm::Index first) {
        ebm::FreeSystem free_phase(hard, x.middleCols(first, chunk.cols()));
        return ebm::relax(free_phase, chunk, options, first);
      });
      std::cout << summary.brief_report() << '\n' << std::flush;
      if (method == ebm::Method::euler) hard_euler = s;
      else std::cout << "  fixed_point vs euler: " << (s - hard_euler).cwiseAbs().maxCoeff() << '\n';
    }

    // One batch of 16 traced every step, to show how the energy and the gradient fall.
    ebm::FreeSystem first_batch(net, x.leftCols(std::min<ebm::Index>(16, examples)));
    ebm::Matrix<double> s = ebm::Matrix<double>::Zero(net.state_size(), first_batch.batch_size());
    ebm::RelaxOptions options;
    options.method = ebm::Method::dopri5;
    ebm::TraceRecorder<double> trace;
    ebm::relax(first_batch, s, options, trace);
    std::cout << "\nConvergence of the first " << s.cols() << " examples (dopri5):\n"
              << "  step        t        energy     max |dF/ds|\n";
    for (std::size_t i = 0; i < trace.rows().size(); i += std::max<std::size_t>(1, trace.rows().size() / 10)) {
      const auto& r = trace.rows()[i];
      std::cout << "  " << std::setw(4) << r.step << std::setw(10) << std::setprecision(4) << r.t << std::setw(14)
                << std::setprecision(8) << r.energy << std::setw(14) << std::setprecision(3) << r.grad_norm << '\n';
    }
    trace.write_csv(trace_path);
    std::cout << "Full trace (" << trace.rows().size() << " rows) written to " << trace_path << '\n';
  } catch (const ebm::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
