// One part of one built-in kind's registration (cli/kind_instances.hpp): cli/CMakeLists.txt
// compiles this file once per kind (EBM_KIND_INDEX) and part (EBM_KIND_PART). The parts other than
// a TU's own are declared `extern template`, so each instantiation is compiled exactly once.
#include "cli/kind_instances.hpp"

#if !defined(EBM_KIND_INDEX) || !defined(EBM_KIND_PART)
#error "cli/kind_instances.cpp is compiled with EBM_KIND_INDEX and EBM_KIND_PART (cli/CMakeLists.txt)"
#endif

namespace ebm::cli {

using ThisKind = std::tuple_element_t<EBM_KIND_INDEX, BuiltinModels>;

#if EBM_KIND_PART == 0
extern template int detail::train_typed<ThisKind, float>(const RunConfig&, const CommandArgs&);
extern template int relax_command<ThisKind>(const RunConfig&, const CommandArgs&);
extern template int gradcheck_command<ThisKind>(const RunConfig&, const CommandArgs&);
template void register_builtin_kind<EBM_KIND_INDEX>(Registry&);
#elif EBM_KIND_PART == 1
template int detail::train_typed<ThisKind, float>(const RunConfig&, const CommandArgs&);
#elif EBM_KIND_PART == 2
template int relax_command<ThisKind>(const RunConfig&, const CommandArgs&);
template int gradcheck_command<ThisKind>(const RunConfig&, const CommandArgs&);
#else
#error "EBM_KIND_PART is 0, 1 or 2"
#endif

}  // namespace ebm::cli
