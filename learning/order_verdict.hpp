#pragma once
/// \file
/// Judging a sweep: does the error of an estimator fall with its parameter (β, γ, steps) at the
/// order the theory predicts? Only the points whose error sits well above the error floor that the
/// relaxations' residuals imply enter the fit: below it the error measures the relaxation, not the
/// estimator, and a fit through such points is what made the one-sided order come out negative.

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace ebm {

/// What a sweep should show: error ∝ value^order within ±tolerance (THEORY.md §1: one-sided 1,
/// symmetric 2), fitted over at least `min_points` values whose error exceeds `floor_margin` times
/// their floor.
struct OrderExpectation {
  double order = 1;
  double tolerance = 0.2;
  double floor_margin = 10;
  std::size_t min_points = 3;
};

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

/// The outcome of judging one curve.
struct OrderJudgement {
  double order = std::numeric_limits<double>::quiet_NaN();
  std::vector<bool> fitted;  ///< per point: above the floor, so in the fit
  bool passed = false;
  std::string reason;  ///< empty when passed
};

/// Fits the order of `errors` in `values` over the points above the floor (a NaN floor counts as
/// zero: nothing recorded) and compares it with the expectation.
inline OrderJudgement judge_order(const std::vector<double>& values, const std::vector<double>& errors,
                                  const std::vector<double>& floors, const OrderExpectation& expected) {
  require<InvalidOptions>(values.size() == errors.size() && floors.size() == errors.size(),
                          "judge_order: values, errors and floors differ in length");
  OrderJudgement j;
  std::vector<double> x, y;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double floor = std::isnan(floors[i]) ? 0.0 : floors[i];
    const bool above = std::isfinite(errors[i]) && errors[i] > 0 && errors[i] > expected.floor_margin * floor;
    j.fitted.push_back(above);
    if (above) x.push_back(values[i]), y.push_back(errors[i]);
  }
  char buf[200];
  if (x.size() < std::max<std::size_t>(expected.min_points, 2)) {
    std::snprintf(buf, sizeof buf, "only %zu of %zu points lie %.0fx above the residual's error floor (need %zu)",
                  x.size(), values.size(), expected.floor_margin, expected.min_points);
    j.reason = buf;
    return j;
  }
  j.order = fitted_order(x, y);
  j.passed = std::abs(j.order - expected.order) <= expected.tolerance;
  if (!j.passed) {
    std::snprintf(buf, sizeof buf, "order %.2f, expected %.2f +- %.2f", j.order, expected.order, expected.tolerance);
    j.reason = buf;
  }
  return j;
}

}  // namespace ebm
