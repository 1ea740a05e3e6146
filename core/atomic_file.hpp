#pragma once
/// \file
/// Files ebm writes (traces, reports, checkpoints) appear whole or not at all: the content
/// goes to a temporary file in the same directory, is flushed to disk, and is renamed over
/// the target, so a crash mid-write leaves the previous version intact. The directory is
/// flushed after the rename too, so that the new name survives a power cut, not only a kill.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

#include "core/error.hpp"

namespace ebm {

/// Writes `content` to `path` atomically; throws ebm::Error naming the file on failure.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw Error("cannot write '" + path.string() + "': " + std::strerror(errno));
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw Error("cannot write '" + path.string() + "': " + why);
    }
    data += n;
    left -= std::size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmpl.c_str());
    throw Error("cannot flush '" + path.string() + "': " + why);
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmpl.c_str());
    throw Error("cannot rename the temporary file onto '" + path.string() + "': " + why);
  }
  // Best effort: a file system that cannot sync a directory (some network mounts) still renamed atomically.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

/// Removes the temporary files that writes of `path` killed midway left next to it
/// (".<name>.tmp.XXXXXX"); returns how many. Call it where no other process writes `path`.
inline int remove_stale_temporaries(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::string prefix = "." + path.filename().string() + ".tmp.";
  std::error_code ec;
  int removed = 0;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() == prefix.size() + 6 && name.starts_with(prefix) && it->is_regular_file(ec))
      removed += std::filesystem::remove(it->path(), ec) ? 1 : 0;
  }
  return removed;
}

}  // namespace ebm
