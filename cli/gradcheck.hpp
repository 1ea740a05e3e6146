#pragma once
/// \file
/// `ebm gradcheck` for one model kind: the learning rules' estimates against the exact gradient.

#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "learning/gradient_checker.hpp"

namespace ebm::cli {

/// `ebm gradcheck`: EP (one-sided, symmetric, random-sign), early inference and CHL against the
/// exact gradient, per layer, with the configured cost.
template <class Kind>
int gradcheck_command(const RunConfig& c, const CommandArgs& args) {
  const auto net = load_or_fresh<Kind, double>(c, args.checkpoint);
  using Model = std::remove_cvref_t<decltype(net)>;
  if constexpr (!(EnergyModel<Model> && HasSecondOrder<Model>)) {
    throw InvalidOptions("gradcheck compares with the exact gradient, which needs an energy with second-order "
                         "products; model.kind = " + std::string(Kind::name) + " has none");
  } else {
    if constexpr (requires { net.activation(); })
      require<InvalidOptions>(net.activation().kind() != Activation::Kind::hard_sigmoid,
                              "gradcheck compares with the exact implicit gradient, which needs a smooth "
                              "activation: use --set model.activation=logistic (or tanh)");
    const auto data = some_examples(c, args.examples);
    const Matrix<double> target = one_hot<double>(data.labels, net.output_block().size);
    const AnyCost<double> cost{c.estimator.cost};
    ExactGradientOptions exact;
    auto checker = GradientChecker<double>::against_exact(net, data.images, target, exact, cost);
    // EP's estimate carries the relaxations' residual divided by β: relax both phases tightly.
    EPOptions ep;
    ep.free = exact.free;
    ep.nudged = exact.free;
    for (EPVariant v : {EPVariant::one_sided, EPVariant::symmetric, EPVariant::random_sign})
      checker.sweep_estimator("ep_" + std::string(to_string(v)), "beta", args.betas, net, data.images, target,
                              [&](double beta) {
                                EPOptions o = ep;
                                o.beta = beta;
                                o.variant = v;
                                o.seed = c.data.seed;
                                return EquilibriumProp<double, AnyCost<double>>(o, cost);
                              });
    // Early inference reads the first steps after the nudge: swept in the number of steps.
    checker.sweep_estimator("early_inference", "steps", {3, 6, 12, 24}, net, data.images, target, [&](double steps) {
      EarlyInferenceOptions o;
      o.free = exact.free;
      o.beta = args.betas.empty() ? 0.0125 : args.betas.back();
      o.steps = long(steps);
      return EarlyInference<double, AnyCost<double>>(o, cost);
    });
    // CHL descends E(clamped) − E(free), not J: its row shows how far that is from the gradient.
    CHLOptions chl;
    chl.free = chl.clamped = exact.free;
    checker.check("chl", ContrastiveHebbian<double, AnyCost<double>>(chl, cost), net, data.images, target);
    std::cout << checker.report().table();
    fs::create_directories(args.out);
    checker.report().write_csv(fs::path(args.out) / "gradcheck.csv");
    std::cout << "written to " << (fs::path(args.out) / "gradcheck.csv").string() << '\n';
    return 0;
  }
}

}  // namespace ebm::cli
