#pragma once
/// \file
/// The model kinds the tool knows: a new model is its file (with its kind, see
/// LayeredHopfieldKind) plus one line here (and EBM_BUILTIN_KIND_COUNT in CMakeLists.txt one up:
/// cli/kind_instances.hpp says why; cli/tool.cpp checks it).

#include <tuple>

#include "models/conv_hopfield.hpp"
#include "models/layered_hopfield.hpp"
#include "models/predictive_coding.hpp"
#include "models/xie_seung.hpp"

namespace ebm::cli {

using BuiltinModels = std::tuple<LayeredHopfieldKind, XieSeungKind, PredictiveCodingKind, ConvHopfieldKind>;

}  // namespace ebm::cli
