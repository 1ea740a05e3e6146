#pragma once
/// \file
/// Verification as a feature: run estimators of dJ/dθ against a reference gradient (the exact
/// implicit gradient) and report, per parameter block and per layer, how close they are, and
/// how the error falls as the estimator's own parameter (β, γ, t) shrinks.
///
/// \code
/// ebm::GradientChecker<double> checker = ebm::GradientChecker<double>::against_exact(net, x, d);
/// checker.sweep_estimator("ep_symmetric", "beta", {0.1, 0.05, 0.025}, net, x, d, [&](double beta) {
///   ebm::EPOptions o;  o.beta = beta;  o.variant = ebm::EPVariant::symmetric;
///   return ebm::EquilibriumProp<double>(o);
/// });
/// std::cout << checker.report().table();      // per layer: error at each β and its fitted order
/// checker.report().write_csv("gradcheck.csv");
/// \endcode

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "learning/estimator.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/order_verdict.hpp"

namespace ebm {

/// How an estimate g compares with a reference g*.
struct GradientMetrics {
  double relative_error = 0;  ///< ‖g − g*‖ / ‖g*‖
  double cosine = 0;          ///< ⟨g, g*⟩ / (‖g‖‖g*‖); alone it hides scale errors
  double norm_ratio = 0;      ///< ‖g‖ / ‖g*‖
  double sign_agreement = 0;  ///< fraction of entries where g and g* have the same sign
};

template <class A, class B>
GradientMetrics compare_gradients(const A& estimate, const B& reference) {
  GradientMetrics m;
  const double ref_norm = double(reference.norm()), est_norm = double(estimate.norm());
  m.relative_error = double((estimate - reference).norm()) / ref_norm;
  m.cosine = double(estimate.dot(reference)) / (est_norm * ref_norm);
  m.norm_ratio = est_norm / ref_norm;
  Index same = 0;
  for (Index i = 0; i < reference.size(); ++i)
    same += (estimate(i) > 0) == (reference(i) > 0) && (estimate(i) < 0) == (reference(i) < 0);
  m.sign_agreement = reference.size() ? double(same) / double(reference.size()) : 1.0;
  return m;
}

/// One comparison: an estimator at one setting, on one parameter group.
struct GradientCheckRow {
  std::string estimator;  ///< e.g. "ep_symmetric"
  std::string setting;    ///< the swept parameter ("beta", "gamma", "steps"), or "" for a single run
  double value = 0;       ///< its value
  std::string group;      ///< a parameter block ("W1"), a layer ("layer1") or "all"
  GradientMetrics metrics;
  double order = std::numeric_limits<double>::quiet_NaN();  ///< fitted order of the error in `setting` (sweeps)
  /// Largest ‖∂F/∂s‖ of the relaxations behind this estimate (NaN when not recorded).
  double residual = std::numeric_limits<double>::quiet_NaN();
  /// The relative error that the relaxations' residuals and rounding alone could cause (NaN when
  /// not recorded): an error near it measures the relaxation, not the estimator.
  double floor = std::numeric_limits<double>::quiet_NaN();
  /// Whether the row entered the fit of the order (its error well above its floor).
  bool fitted = true;
  /// "" when the row was not judged, "pass", or "FAIL: why".
  std::string verdict;
};

/// The rows a checker produced, as a text table or CSV.
class GradientReport {
 public:
  std::vector<GradientCheckRow>& rows() { return rows_; }
  const std::vector<GradientCheckRow>& rows() const { return rows_; }

  /// The row of (estimator, group) at `value` (or the only value); throws if there is none.
  const GradientCheckRow& find(const std::string& estimator, const std::string& group,
                               double value = std::numeric_limits<double>::quiet_NaN()) const {
    for (const auto& r : rows_)
      if (r.estimator == estimator && r.group == group && (std::isnan(value) || r.value == value)) return r;
    throw Error("gradient report has no row for " + estimator + " / " + group);
  }

  /// Per estimator: one line per layer (and "all") with the relative error at each setting, the
  /// cosine, norm ratio and sign agreement at the last setting, the fitted order and the verdict;
  /// then, where recorded, the relaxations' residual and the error floor it implies (of "all") at
  /// each setting. A '*' marks an error left out of the fit (not well above its floor).
  /// `with_blocks` adds the parameter blocks (W1, b1, …).
  std::string table(bool with_blocks = false) const {
    std::ostringstream o;
    char buf[64];
    for (const std::string& name : estimators()) {
      std::vector<double> values;
      std::vector<std::string> groups;
      std::string setting;
      bool has_floor = false, judged = false;
      for (const auto& r : rows_) {
        if (r.estimator != name) continue;
        setting = r.setting;
        has_floor |= !std::isnan(r.floor) || !std::isnan(r.residual);
        judged |= !r.verdict.empty();
        if (std::find(values.begin(), values.end(), r.value) == values.end()) values.push_back(r.value);
        if ((with_blocks || !is_block(r.group)) && std::find(groups.begin(), groups.end(), r.group) == groups.end())
          groups.push_back(r.group);
      }
      o << name;
      if (const auto it = notes_.find(name); it != notes_.end()) o << "  (" << it->second << ")";
      o << '\n';
      o << "  " << pad("group", 8);
      for (double v : values) {
        std::snprintf(buf, sizeof buf, "%s=%.4g", setting.empty() ? "err" : setting.c_str(), v);
        o << pad(setting.empty() ? "rel.err" : buf, 14);
      }
      o << pad("cosine", 11) << pad("norm ratio", 11) << pad("sign agr.", 10) << (values.size() > 1 ? pad("order", 7) : "")
        << (judged ? "verdict" : "") << '\n';
      for (const std::string& g : groups) {
        o << "  " << pad(g, 8);
        const GradientCheckRow* last = nullptr;
        for (double v : values)
          for (const auto& r : rows_)
            if (r.estimator == name && r.group == g && r.value == v) {
              std::snprintf(buf, sizeof buf, "%.3e%s", r.metrics.relative_error, r.fitted ? "" : "*");
              o << pad(std::isnan(r.metrics.relative_error) ? "-" : buf, 14);  // NaN: both zero (no signal yet)
              last = &r;
            }
        if (last) {
          std::snprintf(buf, sizeof buf, "%.6f", last->metrics.cosine);
          o << pad(buf, 11);
          std::snprintf(buf, sizeof buf, "%.4f", last->metrics.norm_ratio);
          o << pad(buf, 11);
          std::snprintf(buf, sizeof buf, "%.3f", last->metrics.sign_agreement);
          o << pad(buf, 10);
          if (values.size() > 1) {
            std::snprintf(buf, sizeof buf, "%.2f", last->order);
            o << pad(std::isnan(last->order) ? "-" : buf, 7);
          }
          o << last->verdict;
        }
        o << '\n';
      }
      if (has_floor) {
        for (const char* what : {"residual", "floor"}) {
          o << "  " << pad(what, 8);
          for (double v : values)
            for (const auto& r : rows_)
              if (r.estimator == name && r.group == "all" && r.value == v) {
                const double x = std::string(what) == "floor" ? r.floor : r.residual;
                std::snprintf(buf, sizeof buf, "%.1e", x);
                o << pad(std::isnan(x) ? "-" : buf, 14);
              }
          o << (std::string(what) == "floor" ? "relative error the residuals and rounding alone may cause"
                                             : "largest |dF/ds| of the relaxations behind the estimate")
            << '\n';
        }
      }
      o << '\n';
    }
    return o.str();
  }

  /// A line printed after an estimator's name (what it is, what it is compared with).
  void set_note(const std::string& estimator, const std::string& note) { notes_[estimator] = note; }

  /// The estimators in the order of their first row.
  std::vector<std::string> estimators() const {
    std::vector<std::string> out;
    for (const auto& r : rows_)
      if (std::find(out.begin(), out.end(), r.estimator) == out.end()) out.push_back(r.estimator);
    return out;
  }

  /// The rows whose verdict failed.
  std::vector<const GradientCheckRow*> failures() const {
    std::vector<const GradientCheckRow*> out;
    for (const auto& r : rows_)
      if (r.verdict.rfind("FAIL", 0) == 0) out.push_back(&r);
    return out;
  }

  /// One JSON object per (estimator, group): estimator, group, sweep {name, values}, rel_error,
  /// cosine, norm_ratio, sign_agreement, residual, floor, fitted (lists over the sweep), order and
  /// verdict (of the last row; "" when not judged). Non-finite numbers are written as null.
  std::string json_objects() const {
    std::ostringstream o;
    bool first_object = true;
    for (const std::string& name : estimators()) {
      std::vector<std::string> groups;
      for (const auto& r : rows_)
        if (r.estimator == name && std::find(groups.begin(), groups.end(), r.group) == groups.end())
          groups.push_back(r.group);
      for (const std::string& g : groups) {
        std::vector<const GradientCheckRow*> rs;
        for (const auto& r : rows_)
          if (r.estimator == name && r.group == g) rs.push_back(&r);
        auto list = [&](auto get) {
          std::string out = "[";
          for (std::size_t i = 0; i < rs.size(); ++i) out += (i ? ", " : "") + json_value(get(*rs[i]));
          return out + "]";
        };
        o << (first_object ? "" : ",\n") << "  {\"estimator\": " << json_string(name) << ", \"group\": "
          << json_string(g) << ", \"sweep\": {\"name\": " << json_string(rs.front()->setting)
          << ", \"values\": " << list([](const GradientCheckRow& r) { return r.value; }) << "}"
          << ", \"rel_error\": " << list([](const GradientCheckRow& r) { return r.metrics.relative_error; })
          << ", \"cosine\": " << list([](const GradientCheckRow& r) { return r.metrics.cosine; })
          << ", \"norm_ratio\": " << list([](const GradientCheckRow& r) { return r.metrics.norm_ratio; })
          << ", \"sign_agreement\": " << list([](const GradientCheckRow& r) { return r.metrics.sign_agreement; })
          << ", \"residual\": " << list([](const GradientCheckRow& r) { return r.residual; })
          << ", \"floor\": " << list([](const GradientCheckRow& r) { return r.floor; })
          << ", \"fitted\": " << list([](const GradientCheckRow& r) { return r.fitted ? 1.0 : 0.0; })
          << ", \"order\": " << json_value(rs.back()->order) << ", \"verdict\": " << json_string(rs.back()->verdict)
          << "}";
        first_object = false;
      }
    }
    return o.str();
  }

  static std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\', out += c;
      else if (static_cast<unsigned char>(c) < 0x20) out += ' ';
      else out += c;
    }
    return out + "\"";
  }
  static std::string json_value(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", x);
    return buf;
  }

  /// Every row: estimator,setting,value,group,relative_error,cosine,norm_ratio,sign_agreement,order.
  std::string csv() const {
    std::ostringstream o;
    o.precision(10);
    o << "estimator,setting,value,group,relative_error,cosine,norm_ratio,sign_agreement,order\n";
    for (const auto& r : rows_) {
      o << r.estimator << ',' << r.setting << ',' << r.value << ',' << r.group << ',' << r.metrics.relative_error
        << ',' << r.metrics.cosine << ',' << r.metrics.norm_ratio << ',' << r.metrics.sign_agreement << ',';
      if (!std::isnan(r.order)) o << r.order;
      o << '\n';
    }
    return o.str();
  }
  void write_csv(const std::filesystem::path& path) const { write_file_atomically(path, csv()); }

 private:
  static bool is_block(const std::string& group) { return group != "all" && group.rfind("layer", 0) != 0; }
  static std::string pad(const std::string& s, std::size_t width) {
    // Width in characters, not bytes (names may hold UTF-8).
    std::size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    return chars >= width ? s + ' ' : s + std::string(width - chars, ' ');
  }
  std::vector<GradientCheckRow> rows_;
  std::map<std::string, std::string> notes_;
};

/// What the relaxations behind an estimate left: the largest residual ‖∂F/∂s‖, and vectors laid
/// out as the parameters that bound the error they and rounding may cause (see GradientChecker::add).
template <class T>
struct EstimateDiagnostics {
  double residual = std::numeric_limits<double>::quiet_NaN();
  std::vector<Vector<T>> error_bounds;
};

/// Compares estimates with a reference gradient, per parameter block, per layer (the blocks
/// whose names end in the same layer number, e.g. W2 and b2) and over all parameters.
template <std::floating_point T>
class GradientChecker {
 public:
  GradientChecker(std::vector<ParamBlock> blocks, Vector<T> reference)
      : blocks_(std::move(blocks)), reference_(std::move(reference)) {
    for (const ParamBlock& b : blocks_) {
      require<DimensionMismatch>(b.offset + b.size() <= reference_.size(), "parameter block ", b.name,
                                 " lies outside the reference gradient");
      std::size_t digits = b.name.size();
      while (digits > 0 && std::isdigit(static_cast<unsigned char>(b.name[digits - 1]))) --digits;
      if (digits < b.name.size()) layers_["layer" + b.name.substr(digits)].push_back(b);
    }
  }

  /// A checker against the exact implicit gradient of `model` on (x, target), the free phase
  /// relaxed from zero with `options.free`.
  template <class M, class C = SquaredError<T>>
  static GradientChecker against_exact(const M& model, ConstRef<T> x, ConstRef<T> target,
                                       const ExactGradientOptions& options = {}, const C& cost = C{}) {
    Matrix<T> s = Matrix<T>::Zero(model.state_size(), x.cols());
    Vector<T> grad(model.params().size());
    ExactGradient<T, C>(options, cost).estimate(model, x, target, s, grad);
    return GradientChecker(model.param_blocks(), grad);
  }

  const Vector<T>& reference() const { return reference_; }
  const GradientReport& report() const { return report_; }

  /// Records the comparison of `estimate` with the reference, under (estimator, setting = value).
  void add(const std::string& estimator, const Vector<T>& estimate, const std::string& setting = "",
           double value = 0) {
    add(estimator, estimate, setting, value, EstimateDiagnostics<T>{});
  }

  /// The same, with what the relaxations left behind: the row's residual, and its floor = Σ over
  /// `diagnostics.error_bounds` of ‖bound restricted to the group‖ / ‖reference restricted to the
  /// group‖. `reference`, when given, replaces the checker's (e.g. BPTT truncated like the estimate).
  void add(const std::string& estimator, const Vector<T>& estimate, const std::string& setting, double value,
           const EstimateDiagnostics<T>& diagnostics, const Vector<T>* reference = nullptr) {
    const Vector<T>& ref = reference ? *reference : reference_;
    require<DimensionMismatch>(estimate.size() == ref.size() && ref.size() == reference_.size(), "estimate from ",
                               estimator, " has ", estimate.size(), " entries but the parameters have ",
                               reference_.size());
    auto push = [&](const std::string& group, const std::vector<ParamBlock>& blocks) {
      GradientCheckRow row;
      row.estimator = estimator, row.setting = setting, row.value = value, row.group = group;
      row.metrics = compare_gradients(gather(estimate, blocks), gather(ref, blocks));
      row.residual = diagnostics.residual;
      if (!diagnostics.error_bounds.empty()) {
        const double ref_norm = double(gather(ref, blocks).norm());
        row.floor = 0;
        for (const Vector<T>& b : diagnostics.error_bounds) row.floor += double(gather(b, blocks).norm()) / ref_norm;
        // A bound that could not be computed (no strict minimum, a diverged phase) bounds nothing.
        if (std::isnan(row.floor)) row.floor = std::numeric_limits<double>::infinity();
      }
      report_.rows().push_back(row);
    };
    for (const auto& [name, blocks] : layers_) push(name, blocks);
    for (const ParamBlock& b : blocks_) push(b.name, {b});
    push("all", blocks_);
  }

  /// Judges every sweep of `estimator` per layer and over all parameters (the blocks are fitted
  /// but not judged): fits the order over the points above the floor, writes order, fitted and
  /// the verdict into the rows; returns whether every group passed.
  bool judge(const std::string& estimator, const OrderExpectation& expected) {
    bool all_passed = true;
    std::map<std::string, std::vector<GradientCheckRow*>> curves;
    for (auto& r : report_.rows())
      if (r.estimator == estimator) curves[r.group].push_back(&r);
    for (auto& [group, rows] : curves) {
      std::vector<double> x, y, f;
      for (const GradientCheckRow* r : rows) x.push_back(r->value), y.push_back(r->metrics.relative_error), f.push_back(r->floor);
      const OrderJudgement j = judge_order(x, y, f, expected);
      const bool judged = group == "all" || group.rfind("layer", 0) == 0;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        rows[i]->order = j.order;
        rows[i]->fitted = j.fitted[i];
        if (judged) rows[i]->verdict = j.passed ? "pass" : "FAIL: " + j.reason;
      }
      all_passed &= !judged || j.passed;
    }
    return all_passed;
  }

  /// Marks the rows of (estimator, group) — every layer and "all" when `group` is empty — with a verdict.
  void set_verdict(const std::string& estimator, const std::string& group, bool passed, const std::string& why) {
    for (auto& r : report_.rows())
      if (r.estimator == estimator && (group.empty() ? r.group == "all" || r.group.rfind("layer", 0) == 0 : r.group == group))
        r.verdict = passed ? "pass" : "FAIL: " + why;
  }
  GradientReport& report() { return report_; }

  /// Runs `estimator` on (model, x, target) from a zero state and records it.
  template <class E, class M>
  Vector<T> check(const std::string& name, const E& estimator, const M& model, ConstRef<T> x, ConstRef<T> target,
                  const std::string& setting = "", double value = 0) {
    Matrix<T> s = Matrix<T>::Zero(model.state_size(), x.cols());
    Vector<T> grad(model.params().size());
    estimator.estimate(model, x, target, s, grad, 0);
    add(name, grad, setting, value);
    return grad;
  }

  /// sweep() over estimators: `make(value)` builds the estimator run at each value.
  template <class Make, class M>
  void sweep_estimator(const std::string& name, const std::string& setting, const std::vector<double>& values,
                       const M& model, ConstRef<T> x, ConstRef<T> target, Make make) {
    sweep(name, setting, values, [&](double v) {
      Matrix<T> s = Matrix<T>::Zero(model.state_size(), x.cols());
      Vector<T> grad(model.params().size());
      make(v).estimate(model, x, target, s, grad, 0);
      return grad;
    });
  }

  /// For each value: `estimate(value)` gives an estimate to record; then fits the order of the
  /// error in the setting per group (the log-log slope over the values).
  void sweep(const std::string& name, const std::string& setting, const std::vector<double>& values,
             const std::function<Vector<T>(double)>& estimate) {
    const std::size_t first = report_.rows().size();
    for (double v : values) add(name, estimate(v), setting, v);
    if (values.size() < 2) return;
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> curves;
    for (std::size_t i = first; i < report_.rows().size(); ++i) {
      const auto& r = report_.rows()[i];
      curves[r.group].first.push_back(r.value);
      curves[r.group].second.push_back(std::max(r.metrics.relative_error, 1e-300));
    }
    for (std::size_t i = first; i < report_.rows().size(); ++i) {
      auto& r = report_.rows()[i];
      r.order = fitted_order(curves[r.group].first, curves[r.group].second);
    }
  }

 private:
  static Vector<T> gather(const Vector<T>& g, const std::vector<ParamBlock>& blocks) {
    Index n = 0;
    for (const auto& b : blocks) n += b.size();
    Vector<T> out(n);
    n = 0;
    for (const auto& b : blocks) out.segment(n, b.size()) = g.segment(b.offset, b.size()), n += b.size();
    return out;
  }

  std::vector<ParamBlock> blocks_;
  std::map<std::string, std::vector<ParamBlock>> layers_;
  Vector<T> reference_;
  GradientReport report_;
};

}  // namespace ebm
