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

/// Least-squares slope of log y against log x: the order p of y ≈ c·x^p.
inline double fitted_order(const std::vector<double>& x, const std::vector<double>& y) {
  require<InvalidOptions>(x.size() == y.size() && x.size() >= 2, "fitted_order needs at least two points");
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += std::log(x[i]), my += std::log(y[i]);
  mx /= double(x.size());
  my /= double(y.size());
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (std::log(x[i]) - mx) * (std::log(y[i]) - my);
    sxx += (std::log(x[i]) - mx) * (std::log(x[i]) - mx);
  }
  return sxy / sxx;
}

/// One comparison: an estimator at one setting, on one parameter group.
struct GradientCheckRow {
  std::string estimator;  ///< e.g. "ep_symmetric"
  std::string setting;    ///< the swept parameter ("beta", "gamma", "steps"), or "" for a single run
  double value = 0;       ///< its value
  std::string group;      ///< a parameter block ("W1"), a layer ("layer1") or "all"
  GradientMetrics metrics;
  double order = std::numeric_limits<double>::quiet_NaN();  ///< fitted order of the error in `setting` (sweeps)
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
  /// cosine, norm ratio and sign agreement at the last setting, and the fitted order.
  /// `with_blocks` adds the parameter blocks (W1, b1, …).
  std::string table(bool with_blocks = false) const {
    std::ostringstream o;
    std::vector<std::string> estimators;
    for (const auto& r : rows_)
      if (std::find(estimators.begin(), estimators.end(), r.estimator) == estimators.end())
        estimators.push_back(r.estimator);
    char buf[64];
    for (const std::string& name : estimators) {
      std::vector<double> values;
      std::vector<std::string> groups;
      std::string setting;
      for (const auto& r : rows_) {
        if (r.estimator != name) continue;
        setting = r.setting;
        if (std::find(values.begin(), values.end(), r.value) == values.end()) values.push_back(r.value);
        const bool is_block = r.group != "all" && r.group.rfind("layer", 0) != 0;
        if ((with_blocks || !is_block) && std::find(groups.begin(), groups.end(), r.group) == groups.end())
          groups.push_back(r.group);
      }
      o << name;
      if (!setting.empty()) o << "  (relative error vs the reference at " << setting << " = …)";
      o << '\n';
      o << "  " << pad("group", 8);
      for (double v : values) {
        std::snprintf(buf, sizeof buf, "%s=%.4g", setting.empty() ? "err" : setting.c_str(), v);
        o << pad(setting.empty() ? "rel.err" : buf, 14);
      }
      o << pad("cosine", 11) << pad("norm ratio", 11) << pad("sign agr.", 10) << (values.size() > 1 ? "order" : "")
        << '\n';
      for (const std::string& g : groups) {
        o << "  " << pad(g, 8);
        const GradientCheckRow* last = nullptr;
        for (double v : values)
          for (const auto& r : rows_)
            if (r.estimator == name && r.group == g && r.value == v) {
              std::snprintf(buf, sizeof buf, "%.3e", r.metrics.relative_error);
              o << pad(buf, 14);
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
            o << buf;
          }
        }
        o << '\n';
      }
      o << '\n';
    }
    return o.str();
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
  static std::string pad(const std::string& s, std::size_t width) {
    // Width in characters, not bytes (names may hold UTF-8).
    std::size_t chars = 0;
    for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
    return chars >= width ? s + ' ' : s + std::string(width - chars, ' ');
  }
  std::vector<GradientCheckRow> rows_;
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
    require<DimensionMismatch>(estimate.size() == reference_.size(), "estimate from ", estimator, " has ",
                               estimate.size(), " entries but the parameters have ", reference_.size());
    auto push = [&](const std::string& group, const Vector<T>& e, const Vector<T>& r) {
      report_.rows().push_back({estimator, setting, value, group, compare_gradients(e, r)});
    };
    for (const auto& [name, blocks] : layers_) push(name, gather(estimate, blocks), gather(reference_, blocks));
    for (const ParamBlock& b : blocks_)
      push(b.name, estimate.segment(b.offset, b.size()), reference_.segment(b.offset, b.size()));
    push("all", estimate, reference_);
  }

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
