// libFuzzer target: the IDX reader on gzip files. The first byte picks how the rest becomes a
// file: compressed with zlib (so that the fuzzer explores IDX headers behind the inflate path),
// or taken as the raw bytes of a would-be .gz file (corrupt streams, cut trailers, gzip bombs).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/idx.hpp"
#include "fuzz/fuzz_util.hpp"

namespace {

/// `size` bytes gzip-compressed (gzip wrapper: windowBits 15 + 16) at `level`.
std::string gzip(const std::uint8_t* data, std::size_t size, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) __builtin_trap();
  std::string out(deflateBound(&z, uLong(size)), '\0');
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ebm::fuzz::InputFile file("-idx3-ubyte.gz");
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  if (mode & 1) {
    const std::string z = gzip(data + 1, size - 1, (mode >> 1) % 10);
    // Optionally cut the compressed stream short, or append junk after it.
    std::size_t keep = z.size();
    std::string tail;
    if (mode & 0x40) keep = z.size() * std::size_t(mode & 0x3F) / 64;
    if (mode & 0x80) tail = "junk after the gzip member";
    file.write((z.substr(0, keep) + tail).data(), keep + tail.size());
  } else {
    file.write(data + 1, size - 1);
  }
  try {
    ebm::read_idx(file.path());
  } catch (const ebm::DataError&) {
  }
  return 0;
}
