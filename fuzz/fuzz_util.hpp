#pragma once
// Helpers for the libFuzzer targets: the readers under test take file paths (as users give
// them), so each input is written to one temporary file per process, rewritten every run.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ebm::fuzz {

/// A temporary file (named with `suffix`) that holds the current input; removed at exit.
class InputFile {
 public:
  explicit InputFile(const std::string& suffix) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/ebm_fuzz_XXXXXX" + suffix;
    fd_ = ::mkstemps(tmpl.data(), int(suffix.size()));
    if (fd_ < 0) std::abort();
    path_ = tmpl;
  }
  ~InputFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  /// Replaces the file's content with `size` bytes at `data`.
  const std::filesystem::path& write(const void* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, p + done, size - done, off_t(done));
      if (n <= 0) std::abort();
      done += std::size_t(n);
    }
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace ebm::fuzz
