#pragma once
/// \file
/// Makes Eigen matrices (units × batch) first-class Boost.Odeint states.
/// Included only inside solvers/: models never see odeint.
///
/// Two fixes on top of odeint's own Eigen adapter (Boost 1.74, Eigen 3.4):
/// - Eigen 3.4 matrices have begin()/end(), so odeint's copy takes them for ranges and the
///   adaptive steppers fail to compile; copying an Eigen matrix is plain assignment.
/// - get_unit_value (Boost.Units support) returns the state by value, so the error checker of
///   a controlled stepper would copy three matrices on every try; return a reference instead.

#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

namespace boost::numeric::odeint {

template <class S, int R, int C, int O, int MR, int MC>
struct copy_impl<Eigen::Matrix<S, R, C, O, MR, MC>, Eigen::Matrix<S, R, C, O, MR, MC>> {
  static void copy(const Eigen::Matrix<S, R, C, O, MR, MC>& from, Eigen::Matrix<S, R, C, O, MR, MC>& to) {
    to = from;
  }
};

namespace detail {
template <class S, int R, int C, int O, int MR, int MC>
struct get_unit_value_impl<Eigen::Matrix<S, R, C, O, MR, MC>> {
  using result_type = const Eigen::Matrix<S, R, C, O, MR, MC>&;
  static result_type value(const Eigen::Matrix<S, R, C, O, MR, MC>& m) { return m; }
};
}  // namespace detail

}  // namespace boost::numeric::odeint
