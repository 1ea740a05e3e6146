#pragma once
/// \file
/// The learning rules the tool knows: a new rule is its file in cli/rules/ plus one line here.

#include <tuple>

#include "cli/rules/bptt.hpp"
#include "cli/rules/chl.hpp"
#include "cli/rules/early_inference.hpp"
#include "cli/rules/ep.hpp"
#include "cli/rules/predictive_coding.hpp"
#include "cli/rules/recurrent_backprop.hpp"
#include "cli/rules/stochastic_ep.hpp"

namespace ebm::cli {

using BuiltinRules = std::tuple<EPRule, CHLRule, EarlyInferenceRule, StochasticEPRule, RecurrentBackpropRule, BpttRule,
                                PCRule>;

}  // namespace ebm::cli
