#pragma once
/// \file
/// `ebm gradcheck` for a predictive-coding model (included by cli/gradcheck.hpp, whose helpers it uses) (THEORY.md §5): the predictive-coding rule against
/// backprop through the feed-forward pass, with verdicts.
///
/// - reference: backprop through the feed-forward pass, cross-checked against recurrent backprop
///   (the implicit gradient of the energy at its free fixed point), which must agree to 1e-8;
/// - pc_relaxed: Σ_L·(−ΔW) with the output clamped, the hidden layers relaxed tightly, over a sweep
///   of the variance ratio Σ_L/Σ_hidden (Σ_hidden the largest hidden variance, Σ_L set from it);
///   verdict: the error falls at every ratio, and its log-log order over the ratios ≥ 16 is −1 ± 0.2;
/// - pc_fixed_prediction: after k = 0 … L + 1 synchronous steps; verdict: equal to backprop (1e-12)
///   from k = L − 1 on, and before that the layers the errors have not reached have a zero update
///   (relative error exactly 1): the negative control.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/rules/predictive_coding.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/gradient_checker.hpp"
#include "learning/order_verdict.hpp"
#include "learning/predictive_coding.hpp"

namespace ebm::cli {

/// The variance ratios swept by default: 1 to 1024 by factors of 4.
inline std::vector<double> default_variance_ratios() { return {1, 4, 16, 64, 256, 1024}; }

/// `ebm gradcheck` on a predictive_coding model; `kFailed` is the exit status of a failed check.
template <class Kind>
int gradcheck_predictive_coding(const RunConfig& c, const CommandArgs& args, int kFailed) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto net = load_or_fresh<Kind, double>(c, args.checkpoint);
  require<InvalidOptions>(
      net.activation().kind() != Activation::Kind::hard_sigmoid,
      "gradcheck compares the relaxed rule's error with its expansion in Sigma_hidden/Sigma_L, which needs a C^2 "
      "energy; the hard sigmoid's kinks break it. Check the same weights with --set model.activation=tanh (or "
      "logistic): a different energy, said in the header");
  const auto data = some_examples(c, args.examples);
  require<InvalidOptions>(data.images.rows() == net.input_size(), "the network has ", net.input_size(),
                          " inputs but the images have ", data.images.rows(), " pixels");
  const Matrix<double> target = one_hot<double>(data.labels, net.output_block().size);
  const Matrix<double>& x = data.images;
  const Index L = net.num_layers();
  std::vector<std::string> failures;
  auto fmt = [](const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return std::string(buf);
  };

  double sigma_hidden = 0, min_variance = net.variance(L);
  for (Index k = 1; k < L; ++k) sigma_hidden = std::max(sigma_hidden, double(net.variance(k)));
  for (Index k = 1; k <= L; ++k) min_variance = std::min(min_variance, double(net.variance(k)));
  std::vector<double> ratios = args.ratios.empty() ? default_variance_ratios() : args.ratios;
  std::sort(ratios.begin(), ratios.end());
  ratios.erase(std::unique(ratios.begin(), ratios.end()), ratios.end());

  PCOptions relaxed;
  relaxed.inference.method = Method::rk4;
  relaxed.inference.dt = 0.2 * min_variance;  // the stiffest term of H is 1/Σ_l
  relaxed.inference.grad_tol = 1e-11;
  relaxed.inference.max_steps = 100000;
  relaxed.inference.t_max = 1e6;
  if (args.relax_from_config) relaxed.inference = c.relax_nudged;  // the user's, as they are

  std::cout << "gradcheck: the predictive-coding rule against backprop, J = sum over the batch of C(y, d), y the "
               "feed-forward output\n"
            << "  model       " << Kind::name << ": " << detail::one_line(c.model_text()) << "; "
            << net.params().size() << " parameters, " << net.state_size() << " value units, L = " << L << '\n'
            << "  weights     "
            << (args.checkpoint.empty() ? "fresh from the config (model options above, including its seed)"
                                        : "checkpoint " + args.checkpoint + " (its stored weights)" +
                                              checkpoint_activation_note(args.checkpoint, c))
            << '\n'
            << "  data        the first " << data.size() << " test images of "
            << (c.data.test_images.empty() ? c.data.dir : c.data.test_images) << ", labels";
  for (Index i = 0; i < data.size(); ++i) std::cout << ' ' << data.labels[std::size_t(i)];
  std::cout << " (one-hot targets)\n"
            << "  precision   double throughout\n"
            << "  cost        squared_error (clamping the output to the target is the squared error; "
               "estimator.cost is not used)\n"
            << "  relaxation  output clamped, hidden layers by " << to_string(relaxed.inference.method) << " dt "
            << relaxed.inference.dt << " to |dF/dx| <= " << relaxed.inference.grad_tol << " (budget "
            << relaxed.inference.max_steps << " steps"
            << (args.relax_from_config ? ", relax.nudged imposed by --relax-from-config" : "")
            << "); variances: hidden (largest) "
            << sigma_hidden << ", output set to ratio x hidden\n"
            << "  reference   backprop through the feed-forward pass (the free fixed point), cross-checked "
               "against recurrent backprop (implicit differentiation of the energy)\n\n";

  // --- Reference.
  const Vector<double> bp = feedforward_backprop<double>(net, x, target);
  const Matrix<double> s_ff = net.feedforward(x);
  ExactGradientOptions exact_options;
  const auto exact = implicit_gradient(net, s_ff, x, target, exact_options);
  const double rbp_error = double((exact.grad - bp).norm() / bp.norm());
  const bool rbp_ok = rbp_error <= 1e-8;
  if (!rbp_ok) failures.push_back("recurrent backprop vs backprop: relative difference " + fmt("%.2e", rbp_error));
  std::cout << "reference: recurrent backprop vs backprop, relative difference " << fmt("%.2e", rbp_error)
            << (rbp_ok ? " (pass)" : " (FAIL: > 1e-8)") << "\n\n";
  GradientChecker<double> checker(net.param_blocks(), bp);
  checker.add("recurrent_backprop", exact.grad);
  checker.set_verdict("recurrent_backprop", "", rbp_ok, "differs from backprop by " + fmt("%.2e", rbp_error));
  checker.report().set_note("recurrent_backprop", "implicit gradient of the energy at the feed-forward pass vs "
                                                  "backprop: equal");

  // --- The relaxed rule over the variance ratio.
  const double keep_output = net.variance(L);
  const double ratio_scale = L > 1 ? sigma_hidden : 1.0;
  std::ostringstream steps_line;
  steps_line << "pc_relaxed relaxation steps per ratio:";
  for (double ratio : ratios) {
    net.set_variance(L, ratio * ratio_scale);
    const PredictiveCodingRule<double> rule(relaxed);
    Matrix<double> s = Matrix<double>::Zero(net.state_size(), x.cols());
    Vector<double> grad(net.params().size());
    Matrix<double> s_end;
    const EstimateSummary summary = rule.estimate(net, x, target, s, grad, 0, &s_end);
    // What the relaxation's residual r can cause: δx ≈ H⁻¹r with ‖H⁻¹‖ ≲ Σ_hidden, moving the
    // estimate by Σ_L·Mᵀδx (estimated, not a bound).
    const FreeSystem<PredictiveCoding<double>> free(net, x);
    const OutputClamped<PredictiveCoding<double>> sys(free);
    Matrix<double> r(s_end.rows(), s_end.cols());
    sys.gradient(s_end, r);
    EstimateDiagnostics<double> diag;
    diag.residual = summary.nudged_phase.final_grad_norm;
    Vector<double> bound(net.params().size());
    net.mixed_vector(s_end, x, std::max(sigma_hidden, 1e-300) * r, bound);
    diag.error_bounds.push_back((double(net.variance(L)) * bound.cwiseAbs()).eval());
    checker.add("pc_relaxed", grad, "ratio", ratio, diag);
    steps_line << ' ' << summary.nudged_phase.steps_accepted;
    if (!summary.nudged_phase.converged())
      failures.push_back("pc_relaxed at ratio " + fmt("%g", ratio) + ": the clamped phase stopped at |dF/dx| = " +
                         fmt("%.2e", summary.nudged_phase.final_grad_norm) + " (" +
                         std::string(to_string(summary.nudged_phase.termination)) + ")");
  }
  net.set_variance(L, keep_output);
  checker.report().set_note("pc_relaxed", "Sigma_L x (-dW) with the output clamped vs backprop; error "
                                          "O(Sigma_hidden/Sigma_L): order -1 in the ratio, fitted over ratios >= 16");
  // Verdict per layer and overall: monotone fall, and the order over the asymptotic ratios.
  {
    std::map<std::string, std::vector<GradientCheckRow*>> curves;
    for (auto& row : checker.report().rows())
      if (row.estimator == "pc_relaxed") curves[row.group].push_back(&row);
    for (auto& [group, rows] : curves) {
      std::vector<double> xs, ys, floors;
      std::vector<std::size_t> used;
      bool monotone = true;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i > 0 && !(rows[i]->metrics.relative_error < rows[i - 1]->metrics.relative_error)) monotone = false;
        if (rows[i]->value >= 16) {
          xs.push_back(rows[i]->value), ys.push_back(rows[i]->metrics.relative_error), floors.push_back(rows[i]->floor);
          used.push_back(i);
        }
      }
      const bool judged = group == "all" || group.rfind("layer", 0) == 0;
      std::string why;
      bool pass = true;
      double order = std::numeric_limits<double>::quiet_NaN();
      if (L == 1) {
        // No hidden layer: nothing relaxes, the rule is backprop's at every ratio.
        for (const GradientCheckRow* row : rows) pass &= row->metrics.relative_error <= 1e-12;
        if (!pass) why = "no hidden layer, yet the estimate differs from backprop";
      } else {
        const OrderJudgement j = judge_order(xs, ys, floors, OrderExpectation{-1.0, 0.2, 10, 3});
        order = j.order;
        for (std::size_t k = 0; k < rows.size(); ++k) rows[k]->fitted = false;
        for (std::size_t k = 0; k < used.size(); ++k) rows[used[k]]->fitted = j.fitted[k];
        pass = monotone && j.passed;
        why = !monotone ? "the error does not fall at every ratio" : j.reason;
      }
      for (GradientCheckRow* row : rows) {
        row->order = order;
        if (judged) row->verdict = pass ? "pass" : "FAIL: " + why;
      }
    }
  }

  // --- The fixed-prediction variant after k synchronous steps.
  Matrix<double> dc(net.output_block().size, x.cols());
  SquaredError<double>{}.gradient(net.layer(s_ff, L), target, dc);
  for (long k = 0; k <= long(L) + 1; ++k) {
    const Matrix<double> e = fixed_prediction_errors<double>(net, s_ff, -dc, k);
    Vector<double> grad(net.params().size());
    net.param_gradient_from_errors(s_ff, x, e, grad);
    checker.add("pc_fixed_prediction", grad, "steps", double(k));
  }
  checker.report().set_note("pc_fixed_prediction", "mu and f' frozen at the feed-forward values vs backprop: "
                                                   "equal (1e-12) from step L-1 on; before it, the layers not yet "
                                                   "reached have a zero update (error 1)");
  long first_exact = -1;
  for (auto& row : checker.report().rows()) {
    if (row.estimator != "pc_fixed_prediction" || !(row.group == "all" || row.group.rfind("layer", 0) == 0)) continue;
    const long k = long(row.value);
    row.fitted = false;
    bool pass = true;
    std::string why;
    if (k >= L - 1) {
      pass = row.metrics.relative_error <= 1e-12;
      if (!pass) why = "differs from backprop by " + fmt("%.2e", row.metrics.relative_error) + " after " +
                       std::to_string(k) + " steps";
    } else if (row.group != "all") {
      const long layer = std::stol(row.group.substr(5));
      // Layer l has heard of the output's error after L − l steps (the output layer from the start).
      const bool reached = k >= L - layer;
      pass = reached ? row.metrics.relative_error <= 1e-12 : row.metrics.relative_error == 1.0;
      if (!pass) why = reached ? "reached, but not equal to backprop" : "changed before the error could reach it";
    } else {
      pass = row.metrics.relative_error > 1e-6;
      if (!pass) why = "equal to backprop before step L-1";
    }
    row.verdict = pass ? "pass" : "FAIL: " + why;
  }
  for (long k = 0; k <= long(L) + 1 && first_exact < 0; ++k)
    if (checker.report().find("pc_fixed_prediction", "all", double(k)).metrics.relative_error <= 1e-12) first_exact = k;

  // --- Output.
  GradientReport& report = checker.report();
  std::cout << report.table() << steps_line.str() << '\n'
            << "pc_fixed_prediction: equal to backprop from step " << first_exact << " (L - 1 = " << L - 1 << ")\n\n";
  for (const GradientCheckRow* r : report.failures()) {
    const std::string line = r->estimator + " " + r->group + ": " + r->verdict.substr(6);
    if (std::find(failures.begin(), failures.end(), line) == failures.end()) failures.push_back(line);
  }
  fs::create_directories(args.out);
  const fs::path dir(args.out);
  report.write_csv(dir / "gradcheck.csv");
  std::ostringstream json;
  json << "{\n\"verdict\": " << (failures.empty() ? "\"pass\"" : "\"fail\"") << ",\n\"failures\": [";
  for (std::size_t i = 0; i < failures.size(); ++i) json << (i ? ", " : "") << GradientReport::json_string(failures[i]);
  json << "],\n\"fixed_prediction_first_exact_step\": " << first_exact << ",\n\"rows\": [\n"
       << report.json_objects() << "\n]\n}\n";
  write_file_atomically(dir / "gradcheck.json", json.str());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "written to " << (dir / "gradcheck.csv").string() << ", " << (dir / "gradcheck.json").string() << " ("
            << fmt("%.1f s", seconds) << ")\n";
  if (failures.empty()) {
    std::cout << "verdict: pass (every judged row as the theory expects)\n";
    return 0;
  }
  std::cout << "verdict: FAIL (" << failures.size() << ")\n";
  for (const std::string& f : failures) std::cout << "  " << f << '\n';
  return kFailed;
}

}  // namespace ebm::cli
