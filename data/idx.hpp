#pragma once
/// \file
/// Reading IDX files (the format of MNIST and Fashion-MNIST), plain or gzip-compressed.
///
/// An IDX file is a big-endian header — two zero bytes, a type code (0x08 = unsigned byte),
/// the number of dimensions — then one 32-bit size per dimension and the data.

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace ebm {

/// The most elements an IDX file may announce (4 GiB of bytes): a header claiming more is corrupt.
inline constexpr std::uint64_t kIdxMaxElements = std::uint64_t(1) << 32;

/// An IDX array of unsigned bytes: its dimensions and its data, row-major as in the file.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;
};

/// Reads an unsigned-byte IDX file; gzip-compressed files (.gz) are read transparently.
/// Throws ebm::DataError naming the file for a missing, truncated or malformed file.
inline IdxArray read_idx(const std::filesystem::path& path) {
  const std::string name = path.string();
  require<DataError>(std::filesystem::exists(path), name, ": no such file");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(name.c_str(), "rb"), &gzclose);
  require<DataError>(file != nullptr, name, ": cannot open for reading");

  auto read = [&](void* to, std::size_t bytes, const char* what) {
    std::size_t done = 0;
    while (done < bytes) {
      const unsigned chunk = unsigned(std::min<std::size_t>(bytes - done, 1u << 30));
      const int got = gzread(file.get(), static_cast<char*>(to) + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file.get(), &code);
        throw DataError(name + ": corrupt compressed data while reading the " + what + " (" + message + ")");
      }
      if (got == 0)
        throw DataError(name + ": file ends after " + std::to_string(done) + " of the " + std::to_string(bytes) +
                        " bytes of the " + what);
      done += std::size_t(got);
    }
  };

  unsigned char magic[4];
  read(magic, 4, "header");
  require<DataError>(magic[0] == 0 && magic[1] == 0, name, ": not an IDX file (bad magic number)");
  require<DataError>(magic[2] == 0x08, name, ": IDX element type 0x", std::hex, int(magic[2]),
                     " is not supported (only unsigned bytes, 0x08)");
  require<DataError>(magic[3] >= 1 && magic[3] <= 4, name, ": IDX header claims ", int(magic[3]),
                     " dimensions (expected 1 to 4)");
  IdxArray out;
  std::uint64_t count = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char b[4];
    read(b, 4, "header");
    const std::uint32_t n = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) |
                            std::uint32_t(b[3]);
    out.dims.push_back(n);
    count *= n;  // at most 4 factors below 2^32: checked against the limit before it can overflow
    require<DataError>(count <= kIdxMaxElements, name, ": IDX header claims more than ", kIdxMaxElements,
                       " elements (dimension ", d, " is ", n, "), more than any plausible dataset");
  }
  // Never trust the header: an uncompressed file must hold exactly the bytes it announces,
  // which the file size tells before anything is allocated.
  const std::uint64_t header_bytes = 4 + 4 * std::uint64_t(magic[3]);
  if (gzdirect(file.get())) {
    const std::uint64_t size = std::filesystem::file_size(path);
    require<DataError>(size >= header_bytes + count, name, ": file ends after ", size - header_bytes, " of the ",
                       count, " bytes of the data the header announces (truncated, or wrong dimensions)");
    require<DataError>(size == header_bytes + count, name, ": trailing bytes after the ", count,
                       " elements the header announces (", size - header_bytes - count, " extra)");
  }
  // A compressed file's size says little about its content: grow the buffer as data arrives,
  // so that a lying header costs an error, not a huge allocation.
  constexpr std::size_t kStep = std::size_t(1) << 26;
  std::size_t done = 0;
  while (done < count) {
    const std::size_t next = std::size_t(std::min<std::uint64_t>(count, done + kStep));
    out.data.resize(next);
    read(out.data.data() + done, next - done, "data");
    done = next;
  }
  char extra;
  require<DataError>(gzread(file.get(), &extra, 1) == 0, name, ": trailing bytes after the ", count,
                     " elements the header announces");
  return out;
}

}  // namespace ebm
