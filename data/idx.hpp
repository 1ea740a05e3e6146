#pragma once
/// \file
/// Reading IDX files (the format of MNIST and Fashion-MNIST), plain or gzip-compressed.
///
/// An IDX file is a big-endian header — two zero bytes, a type code (0x08 = unsigned byte,
/// 0x0D = float32, 0x0E = float64), the number of dimensions — then one 32-bit size per
/// dimension and the data.
///
/// The reader never trusts the header: the sizes it announces are checked against a sane limit
/// and against what the file can hold (its size, or for gzip the most that many compressed bytes
/// can inflate to) before anything is allocated, so a corrupt or hostile file costs an error
/// naming it, never a crash, a hang or a huge allocation.

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.hpp"
#include "core/input_file.hpp"

namespace ebm {

/// The most data bytes an IDX file may announce (4 GiB): a header claiming more is corrupt.
inline constexpr std::uint64_t kIdxMaxBytes = std::uint64_t(1) << 32;
/// Deflate's best compression ratio is 1032:1 (a run of one byte), so a gzip file of n bytes
/// inflates to at most about 1032·n: a header announcing more data than that is lying.
inline constexpr std::uint64_t kGzipMaxRatio = 1032;

/// IDX element types this reader supports.
inline constexpr std::uint8_t kIdxUnsignedByte = 0x08;
inline constexpr std::uint8_t kIdxFloat32 = 0x0D;
inline constexpr std::uint8_t kIdxFloat64 = 0x0E;

/// An IDX array: its element type, dimensions and data, row-major as in the file. For unsigned
/// bytes `data[i]` is element i; for floats `data` holds the big-endian bytes and value(i) decodes.
struct IdxArray {
  std::uint8_t type = kIdxUnsignedByte;
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;

  std::size_t element_size() const { return type == kIdxFloat64 ? 8 : type == kIdxFloat32 ? 4 : 1; }
  std::size_t count() const { return data.size() / element_size(); }
  /// Element i as a double.
  double value(std::size_t i) const {
    if (type == kIdxUnsignedByte) return data[i];
    std::uint64_t bits = 0;
    for (std::size_t b = 0; b < element_size(); ++b) bits = (bits << 8) | data[i * element_size() + b];
    if (type == kIdxFloat32) return double(std::bit_cast<float>(std::uint32_t(bits)));
    return std::bit_cast<double>(bits);
  }
};

/// Name of an IDX type code, for messages.
inline std::string idx_type_name(std::uint8_t type) {
  switch (type) {
    case kIdxUnsignedByte: return "unsigned byte (0x08)";
    case kIdxFloat32: return "float32 (0x0D)";
    case kIdxFloat64: return "float64 (0x0E)";
    default: {
      static const char* hex = "0123456789abcdef";
      return std::string("0x") + hex[type >> 4] + hex[type & 15];
    }
  }
}

/// Reads an IDX file of unsigned bytes or floats; gzip-compressed files (.gz) are read
/// transparently. Throws ebm::DataError naming the file for a missing, truncated or malformed file.
inline IdxArray read_idx(const std::filesystem::path& path) {
  const std::string name = path.string();
  require_regular_file(path);
  std::error_code ec;
  const std::uint64_t file_bytes = std::filesystem::file_size(path, ec);
  require<DataError>(!ec, name, ": cannot read its size (", ec.message(), ")");
  errno = 0;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(name.c_str(), "rb"), &gzclose);
  require<DataError>(file != nullptr, name, ": cannot open for reading (", std::strerror(errno), ")");

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
      if (got == 0) {
        // A gzip stream cut short reads as a clean end of file in some zlib versions and as
        // Z_BUF_ERROR in others: say truncated either way.
        throw DataError(name + ": file ends after " + std::to_string(done) + " of the " + std::to_string(bytes) +
                        " bytes of the " + what);
      }
      done += std::size_t(got);
    }
  };

  unsigned char magic[4];
  read(magic, 4, "header");
  require<DataError>(magic[0] == 0 && magic[1] == 0, name, ": not an IDX file (bad magic number)");
  require<DataError>(magic[2] == kIdxUnsignedByte || magic[2] == kIdxFloat32 || magic[2] == kIdxFloat64, name,
                     ": IDX element type ", idx_type_name(magic[2]),
                     " is not supported (only unsigned bytes 0x08, float32 0x0D and float64 0x0E)");
  require<DataError>(magic[3] >= 1 && magic[3] <= 4, name, ": IDX header claims ", int(magic[3]),
                     " dimensions (expected 1 to 4)");
  IdxArray out;
  out.type = magic[2];
  const std::uint64_t element = out.element_size();
  std::uint64_t count = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char b[4];
    read(b, 4, "header");
    const std::uint32_t n = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) |
                            std::uint32_t(b[3]);
    out.dims.push_back(n);
    count *= n;  // below 2^32 before, times a factor below 2^32: no overflow, and checked at once
    require<DataError>(count <= kIdxMaxBytes / element, name, ": IDX header claims more than ", kIdxMaxBytes,
                       " bytes of data (dimension ", d, " is ", n, "), more than any plausible dataset");
  }
  const std::uint64_t header_bytes = 4 + 4 * std::uint64_t(magic[3]);
  const std::uint64_t data_bytes = count * element;
  // Never trust the header: an uncompressed file must hold exactly the bytes it announces, which
  // the file size tells before anything is allocated; a compressed one cannot inflate beyond
  // deflate's ratio.
  if (gzdirect(file.get())) {
    require<DataError>(file_bytes >= header_bytes + data_bytes, name, ": file ends after ", file_bytes - header_bytes,
                       " of the ", data_bytes,
                       " bytes of the data the header announces (truncated, or wrong dimensions)");
    require<DataError>(file_bytes == header_bytes + data_bytes, name, ": trailing bytes after the ", count,
                       " elements the header announces (", file_bytes - header_bytes - data_bytes, " extra)");
  } else {
    require<DataError>(data_bytes <= kGzipMaxRatio * file_bytes, name, ": the IDX header announces ", data_bytes,
                       " bytes of data, more than a gzip file of ", file_bytes,
                       " bytes can inflate to (truncated, or a corrupt header)");
  }
  // Even then, grow the buffer as data arrives, so that a lying compressed header costs an
  // error after reading what is there, not one allocation of the announced size.
  constexpr std::size_t kStep = std::size_t(1) << 26;
  std::size_t done = 0;
  while (done < data_bytes) {
    const std::size_t next = std::size_t(std::min<std::uint64_t>(data_bytes, done + kStep));
    out.data.resize(next);
    read(out.data.data() + done, next - done, "data");
    done = next;
  }
  char extra;
  const int more = gzread(file.get(), &extra, 1);
  require<DataError>(more >= 0, name, ": corrupt compressed data after the ", count, " elements the header announces");
  require<DataError>(more == 0, name, ": trailing bytes after the ", count, " elements the header announces");
  return out;
}

}  // namespace ebm
