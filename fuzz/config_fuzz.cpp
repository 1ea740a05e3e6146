// libFuzzer target: the TOML config parser and validator. Any text must give a valid RunConfig
// or an ebm::InvalidOptions; a config that is accepted must survive being written back
// (config_to_string) and read again unchanged, which is what a run's config.toml relies on.
// Lines starting with "--set " are overrides applied after the file, as the command line does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/builtin_models.hpp"
#include "cli/registry.hpp"
#include "cli/tool.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The kinds the tool knows, without their trainers and commands (reading a config needs none).
  static const bool registered = (ebm::cli::register_models<ebm::cli::BuiltinModels, false>(), true);
  (void)registered;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string text;
  std::vector<std::string> overrides;
  for (std::size_t at = 0; at < input.size();) {
    std::size_t end = input.find('\n', at);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(at, end - at);
    if (line.starts_with("--set ")) overrides.emplace_back(line.substr(6));
    else text.append(line).push_back('\n');
    at = end + 1;
  }
  ebm::cli::RunConfig config;
  try {
    toml::table root = ebm::cli::parse_toml(text, "fuzz.toml");
    for (const std::string& o : overrides) ebm::cli::apply_override(root, o);
    config = ebm::cli::config_from_toml(root);
  } catch (const ebm::InvalidOptions&) {
    return 0;
  }
  // Accepted: the effective config must read back as itself.
  const std::string written = ebm::cli::config_to_string(config);
  try {
    const ebm::cli::RunConfig again = ebm::cli::config_from_toml(ebm::cli::parse_toml(written, "written.toml"));
    if (ebm::cli::config_to_string(again) != written) __builtin_trap();
  } catch (const ebm::InvalidOptions&) {
    __builtin_trap();  // an accepted config that writes itself unreadably
  }
  return 0;
}
