#pragma once
// Helpers for the libFuzzer targets: the readers under test take file paths (as users give
// them), so each input is written to one temporary file per process, rewritten every run.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace ebm::fuzz {

/// A temporary file (named with `suffix`) that holds the current input; removed at exit.
class InputFile {
 public:
  explicit InputFile(const std::string& suffix) {
    // In memory when possible (/dev/shm): a file on disk rewritten thousands of times a second
    // spends its time in the file system, not in the reader under test.
    const char* env = std::getenv("TMPDIR");
    std::error_code ec;
    const std::string dir = env && *env ? env : std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    std::string tmpl = dir + "/ebm_fuzz_XXXXXX" + suffix;
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
    // Written over, then cut to size: ext4 flushes a file truncated to zero, which costs milliseconds.
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, p + done, size - done, off_t(done));
      if (n <= 0) std::abort();
      done += std::size_t(n);
    }
    if (::ftruncate(fd_, off_t(size)) != 0) std::abort();
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace ebm::fuzz
