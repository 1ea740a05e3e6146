#pragma once
/// \file
/// Registering a model kind: register_model<Kind>() fills a ModelEntry (cli/registry_core.hpp)
/// with its options' reader, its help, and the commands instantiated for float and double and
/// for every built-in rule (cli/rules/builtin_rules.hpp) that applies to it.
///
/// A model kind is a small class (see LayeredHopfieldKind in models/layered_hopfield.hpp):
/// \code
///   struct MyKind {
///     static constexpr std::string_view name = "my_model", doc = "…";
///     using Options = MyOptions;                     // declared fields (core/fields.hpp)
///     template <class T> using Model = MyModel<T>;   // an ebm::EnergyModel
///     template <class T> static MyModel<T> make(const Options&);
///   };
///   ebm::cli::register_model<MyKind>();              // the one registration line
/// \endcode

#include <iostream>
#include <string>
#include <tuple>

#include "cli/commands.hpp"
#include "cli/config.hpp"
#include "cli/gradcheck.hpp"
#include "cli/registry_core.hpp"
#include "cli/rules/builtin_rules.hpp"

namespace ebm::cli {

namespace detail {

/// Reads a kind's options from its keys (naming unknown ones and bad values), and writes them
/// back complete.
template <class Options>
toml::table normalize_options(const toml::table& t, const std::string& section, const std::string& owner) {
  Options o;
  TableReader r(&t, section + ".");
  r.read(o);
  r.reject_unknown(owner, field_names<Options>());
  std::string why;
  if constexpr (requires { o.is_valid(&why, section + "."); }) {
    if (!o.is_valid(&why, section + ".")) throw InvalidOptions(why);
  } else if (!check_fields(o, section + ".", &why)) {
    throw InvalidOptions(why);
  }
  toml::table out;
  write_fields(o, out);
  return out;
}

template <class Rule>
RuleEntry rule_entry() {
  RuleEntry e;
  e.name = std::string(Rule::name);
  e.doc = std::string(Rule::doc);
  e.normalize = [](const toml::table& t) {
    return normalize_options<typename Rule::Options>(t, "estimator",
                                                     "estimator.kind = \"" + std::string(Rule::name) + "\"");
  };
  e.help = [](std::ostream& out) { help_fields(out, "estimator.", typename Rule::Options{}); };
  return e;
}

/// Calls f(Rule{}) for every built-in rule.
template <class F>
void for_each_rule(F&& f) {
  std::apply([&](auto... rules) { (f(rules), ...); }, BuiltinRules{});
}

template <class Kind>
void check_run(const RunConfig& c) {
  using Model = typename Kind::template Model<double>;
  bool known = false;
  for_each_rule([&](auto rule) {
    using Rule = decltype(rule);
    if (c.estimator.kind != Rule::name) return;
    known = true;
    if constexpr (!Rule::template applies<Model>) {
      throw InvalidOptions("estimator.kind = \"" + c.estimator.kind + "\" does not apply to model.kind = \"" +
                           std::string(Kind::name) + "\"");
    } else {
      constexpr bool langevin = requires { Rule::langevin_phases; };
      if constexpr (!langevin) {
        for (auto [phase, name] : {std::pair{&c.relax_free, "relax.free"}, std::pair{&c.relax_nudged, "relax.nudged"}})
          require<InvalidOptions>(!is_langevin(phase->method), name, ".method = ", to_string(phase->method),
                                  ": estimator.kind = \"", c.estimator.kind,
                                  "\" has no Langevin phases (ep, chl, early_inference and stochastic_ep have)");
      } else if (c.estimator.kind != "stochastic_ep") {
        // The sampled pair (nudged or clamped chains beside the free ones) runs relax.nudged's
        // method; a Langevin free phase before a deterministic one would mix a sample and a minimum.
        require<InvalidOptions>(!is_langevin(c.relax_free.method) || is_langevin(c.relax_nudged.method),
                                "relax.free.method = ", to_string(c.relax_free.method), ": estimator.kind = \"",
                                c.estimator.kind, "\" samples its phases when relax.nudged.method is ula or mala; "
                                "set it too (relax.nudged.method = ", to_string(c.relax_nudged.method), ")");
      }
      if constexpr (requires { Rule::check(typename Rule::Options{}, c); }) {
        typename Rule::Options o;
        TableReader r(&c.estimator_options, "estimator.");
        r.read(o);
        Rule::check(o, c);
      }
    }
  });
  require<InvalidOptions>(known, "estimator.kind = \"", c.estimator.kind, "\" is not a registered learning rule");
  // A model that clips its states (the hard sigmoid) has kinks that higher-order steps straddle.
  // Asked of the options, not of a built model: a config is checked before anything is allocated.
  if constexpr (requires(const typename Kind::Options& o) { Kind::clips_states(o); }) {
    if (Kind::clips_states(model_options<Kind>(c.model_options)))
      for (auto [phase, name] : {std::pair{&c.relax_free, "relax.free"}, std::pair{&c.relax_nudged, "relax.nudged"}})
        require<InvalidOptions>(phase->method != Method::rk4 && phase->method != Method::dopri5, name, ".method = ",
                                to_string(phase->method), " needs a smooth energy, but this model (kind ", Kind::name,
                                ") clips its states; use euler or fixed_point, or a smooth activation");
  }
}

template <class Kind, class T>
int train_typed(const RunConfig& c, const CommandArgs& args) {
  int status = -1;
  for_each_rule([&](auto rule) {
    using Rule = decltype(rule);
    if constexpr (Rule::template applies<typename Kind::template Model<T>>)
      if (c.estimator.kind == Rule::name) status = train_command<Kind, Rule, T>(c, args);
  });
  require<InvalidOptions>(status >= 0, "estimator.kind = \"", c.estimator.kind, "\" does not apply to model.kind = \"",
                          Kind::name, "\"");
  return status;
}

}  // namespace detail

/// Registers a model kind (and the built-in rules) with `registry`. With `kCommands` false only
/// what reading a config needs is registered (its options and checks), not the trainer and the
/// commands, which is what instantiating them costs (the config fuzzer).
template <class Kind, bool kCommands = true>
void register_model(Registry& registry = Registry::instance()) {
  ModelEntry e;
  e.name = std::string(Kind::name);
  e.doc = std::string(Kind::doc);
  e.normalize = [](const toml::table& t) {
    return detail::normalize_options<typename Kind::Options>(t, "model",
                                                            "model.kind = \"" + std::string(Kind::name) + "\"");
  };
  e.help = [](std::ostream& out) { help_fields(out, "model.", typename Kind::Options{}); };
  e.check_run = detail::check_run<Kind>;
  if constexpr (kCommands) {
    e.train = [](const RunConfig& c, const CommandArgs& args) {
      return c.model.scalar == Precision::double_ ? detail::train_typed<Kind, double>(c, args)
                                                  : detail::train_typed<Kind, float>(c, args);
    };
    e.relax = relax_command<Kind>;
    e.gradcheck = gradcheck_command<Kind>;
  }
  detail::for_each_rule([&](auto rule) {
    using Rule = decltype(rule);
    registry.add(detail::rule_entry<Rule>());
    if constexpr (Rule::template applies<typename Kind::template Model<double>>) e.rules.push_back(std::string(Rule::name));
  });
  registry.add(std::move(e));
}

/// Registers every model kind of the tuple `Kinds`.
template <class Kinds, bool kCommands = true>
void register_models(Registry& registry = Registry::instance()) {
  std::apply([&](auto... kinds) { (register_model<decltype(kinds), kCommands>(registry), ...); }, Kinds{});
}

}  // namespace ebm::cli
