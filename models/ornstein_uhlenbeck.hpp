#pragma once
/// \file
/// The Ornstein–Uhlenbeck process: Langevin dynamics on a quadratic energy, whose laws
/// are Gaussian and known in closed form. The reference for every Langevin sampler.

#include <unsupported/Eigen/MatrixFunctions>

#include "models/quadratic.hpp"

namespace ebm {

/// Langevin dynamics \f$ ds = -A(s-\mu)\,dt + \sqrt{2T}\,dW \f$ on the energy of `Quadratic`.
template <std::floating_point T>
class OrnsteinUhlenbeck {
 public:
  OrnsteinUhlenbeck(const Quadratic<T>& energy, double temperature) : energy_(energy), temperature_(temperature) {
    require<InvalidOptions>(temperature > 0, "OrnsteinUhlenbeck: temperature must be positive, got ", temperature);
  }

  const Quadratic<T>& energy() const { return energy_; }

  /// Stationary law of the continuous process: N(μ, T A⁻¹), the Gibbs density ∝ exp(−E/T).
  Eigen::MatrixXd stationary_covariance() const {
    const Eigen::MatrixXd a = energy_.a().template cast<double>();
    return temperature_ * a.inverse();
  }

  /// Stationary law of Euler–Maruyama (ULA) with step h: N(μ, T A⁻¹(I − hA/2)⁻¹), for h < 2/λ_max.
  /// (From Σ = (I − hA)Σ(I − hA) + 2ThI, solved in A's eigenbasis.)
  Eigen::MatrixXd ula_stationary_covariance(double h) const {
    const Eigen::MatrixXd a = energy_.a().template cast<double>();
    const Eigen::MatrixXd id = Eigen::MatrixXd::Identity(a.rows(), a.cols());
    return temperature_ * a.inverse() * (id - 0.5 * h * a).inverse();
  }

  /// Exact transition over time t from s₀: mean μ + e^{−At}(s₀ − μ), covariance T A⁻¹(I − e^{−2At}).
  Eigen::VectorXd transition_mean(const Eigen::VectorXd& s0, double t) const {
    const Eigen::MatrixXd a = energy_.a().template cast<double>();
    const Eigen::VectorXd mu = energy_.minimum().template cast<double>();
    const Eigen::MatrixXd decay = (-t * a).exp();
    return mu + decay * (s0 - mu);
  }
  Eigen::MatrixXd transition_covariance(double t) const {
    const Eigen::MatrixXd a = energy_.a().template cast<double>();
    const Eigen::MatrixXd id = Eigen::MatrixXd::Identity(a.rows(), a.cols());
    return temperature_ * a.inverse() * (id - (-2.0 * t * a).exp());
  }

 private:
  const Quadratic<T>& energy_;
  double temperature_;
};

}  // namespace ebm
