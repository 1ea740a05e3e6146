#pragma once
/// \file
/// The registration of one built-in model kind, the I-th of BuiltinModels, in pieces that compile
/// in parallel. Registering a kind instantiates the trainer for every rule and both scalars and the
/// relax and gradcheck commands: one translation unit holding all of it for every kind
/// took a quarter of a clean build on two cores, and compiled alone on one core at the end. So
/// cli/CMakeLists.txt compiles cli/kind_instances.cpp once per kind and part (EBM_KIND_INDEX,
/// EBM_KIND_PART):
///   part 0  register_builtin_kind<I>() itself, with the training in double
///   part 1  the training in float
///   part 2  the relax and gradcheck commands
/// and cli/tool.cpp only declares register_builtin_kind<I>() (see register_builtins()).

#include <cstddef>
#include <tuple>

#include "cli/builtin_models.hpp"
#include "cli/registry.hpp"

namespace ebm::cli {

/// Registers the I-th kind of BuiltinModels (explicitly instantiated in cli/kind_instances.cpp).
template <std::size_t I>
void register_builtin_kind(Registry& registry) {
  register_model<std::tuple_element_t<I, BuiltinModels>>(registry);
}

}  // namespace ebm::cli
