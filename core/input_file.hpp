#pragma once
/// \file
/// Checks on a file a user names before ebm reads it: that it exists and is a regular file, so
/// that a directory or a device given by mistake is an error naming it rather than a confusing
/// read failure (a directory "opens" on Linux and then fails to read with EISDIR).

#include <filesystem>
#include <system_error>

#include "core/error.hpp"

namespace ebm {

/// Throws DataError unless `path` names an existing regular file (following symbolic links);
/// `what` says what the file was meant to be ("file", "checkpoint", "config file").
inline void require_regular_file(const std::filesystem::path& path, const char* what = "file") {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  require<DataError>(std::filesystem::exists(status), path.string(), ": no such ", what);
  require<DataError>(!std::filesystem::is_directory(status), path.string(), ": is a directory, not a ", what);
  require<DataError>(std::filesystem::is_regular_file(status), path.string(), ": is not a regular file (a ", what,
                     " must be one)");
}

}  // namespace ebm
