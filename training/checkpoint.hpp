#pragma once
/// \file
/// Checkpoints: everything needed to continue a training run exactly — the network (sizes,
/// activation, parameters), the optimizer's state, how far the run got (epoch, step) and its
/// seed — plus the effective configuration, in one binary file.
///
/// Layout (little-endian):
/// \code
///   "EBMCKPT\n"  8 bytes   magic
///   version      u32       kCheckpointVersion
///   payload size u64
///   crc32        u32       zlib's CRC-32 of the payload
///   payload:     scalar size (u8: 4 float, 8 double), layer count (u32) and sizes (i64 each),
///                activation (string), parameters (u64 count + raw), optimizer state (string),
///                epoch (i64), step (i64), seed (u64), config (string)
/// \endcode
/// The file is written with write_file_atomically, so an interrupted write leaves the previous
/// checkpoint in place; reading checks every field and the CRC, and throws DataError naming
/// the file and the field, so a damaged file is never half-loaded.

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/activation.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "training/serialize.hpp"

namespace ebm {

inline constexpr char kCheckpointMagic[8] = {'E', 'B', 'M', 'C', 'K', 'P', 'T', '\n'};
inline constexpr std::uint32_t kCheckpointVersion = 1;

/// The content of a checkpoint. `optimizer_state` is what Optimizer::save wrote.
template <class T>
struct Checkpoint {
  std::vector<Index> sizes;
  Activation activation;
  Vector<T> params;
  std::string optimizer_state;
  long epoch = 0;  ///< epochs completed
  long step = 0;   ///< optimizer steps taken
  std::uint64_t seed = 0;
  std::string config;  ///< the effective configuration (TOML) of the run
};

namespace detail {
inline std::uint32_t crc32_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < bytes.size()) {  // zlib takes uInt lengths
    const uInt n = uInt(std::min<std::size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), n);
    done += n;
  }
  return std::uint32_t(crc);
}
inline std::string read_whole_file(const std::filesystem::path& path) {
  require<DataError>(std::filesystem::exists(path), path.string(), ": no such file");
  std::ifstream in(path, std::ios::binary);
  require<DataError>(bool(in), path.string(), ": cannot open for reading");
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}
constexpr std::size_t kCheckpointHeader = 8 + 4 + 8 + 4;
}  // namespace detail

/// The checkpoint as bytes (see the file comment for the layout).
template <class T>
std::string serialize_checkpoint(const Checkpoint<T>& c) {
  ByteWriter payload;
  payload.put<std::uint8_t>(sizeof(T));
  payload.put<std::uint32_t>(std::uint32_t(c.sizes.size()));
  for (Index n : c.sizes) payload.put<std::int64_t>(n);
  payload.put_string(c.activation.name());
  payload.put_vector(c.params);
  payload.put_string(c.optimizer_state);
  payload.put<std::int64_t>(c.epoch);
  payload.put<std::int64_t>(c.step);
  payload.put<std::uint64_t>(c.seed);
  payload.put_string(c.config);
  ByteWriter file;
  file.bytes().append(kCheckpointMagic, sizeof kCheckpointMagic);
  file.put<std::uint32_t>(kCheckpointVersion);
  file.put<std::uint64_t>(payload.bytes().size());
  file.put<std::uint32_t>(detail::crc32_of(payload.bytes()));
  file.bytes() += payload.bytes();
  return file.bytes();
}

/// Writes a checkpoint atomically: the previous file stays whole until the new one is.
template <class T>
void write_checkpoint(const std::filesystem::path& path, const Checkpoint<T>& c) {
  write_file_atomically(path, serialize_checkpoint(c));
}

/// The scalar size (4 for float, 8 for double) of a checkpoint's parameters, after checking
/// its header and CRC: lets a tool pick the precision to load it in.
inline int checkpoint_scalar_size(const std::filesystem::path& path);

namespace detail {
/// Checks magic, version, size and CRC; returns the payload.
inline std::string checked_payload(const std::filesystem::path& path, const std::string& bytes) {
  const std::string name = path.string();
  require<DataError>(bytes.size() >= kCheckpointHeader, name, ": not an ebm checkpoint (", bytes.size(),
                     " bytes, shorter than the ", kCheckpointHeader, "-byte header)");
  require<DataError>(std::string_view(bytes.data(), 8) == std::string_view(kCheckpointMagic, 8), name,
                     ": not an ebm checkpoint (bad magic number)");
  ByteReader header(std::string_view(bytes).substr(8, kCheckpointHeader - 8), name);
  const auto version = header.get<std::uint32_t>("version");
  require<DataError>(version == kCheckpointVersion, name, ": checkpoint version ", version,
                     " is not supported (this build reads version ", kCheckpointVersion, ")");
  const auto size = header.get<std::uint64_t>("payload size");
  const auto crc = header.get<std::uint32_t>("crc32");
  require<DataError>(size == bytes.size() - kCheckpointHeader, name, ": field 'payload size' says ", size,
                     " bytes but the file holds ", bytes.size() - kCheckpointHeader, " (truncated or corrupt)");
  std::string payload = bytes.substr(kCheckpointHeader);
  require<DataError>(crc32_of(payload) == crc, name, ": field 'crc32' does not match the content (corrupt file)");
  return payload;
}
}  // namespace detail

inline int checkpoint_scalar_size(const std::filesystem::path& path) {
  const std::string payload = detail::checked_payload(path, detail::read_whole_file(path));
  ByteReader in(payload, path.string());
  return in.get<std::uint8_t>("scalar");
}

/// Reads and validates a checkpoint; throws DataError naming the file and the bad field.
template <class T>
Checkpoint<T> read_checkpoint(const std::filesystem::path& path) {
  const std::string name = path.string();
  const std::string payload = detail::checked_payload(path, detail::read_whole_file(path));
  ByteReader in(payload, name);
  Checkpoint<T> c;
  const auto scalar = in.get<std::uint8_t>("scalar");
  require<DataError>(scalar == sizeof(T), name, ": field 'scalar': the checkpoint holds ",
                     scalar == 4 ? "float" : scalar == 8 ? "double" : "unknown", " parameters, but ",
                     sizeof(T) == 4 ? "float" : "double", " was asked for (set model.scalar to match)");
  const auto layers = in.get<std::uint32_t>("sizes");
  require<DataError>(layers >= 2 && layers <= 1000, name, ": field 'sizes' has ", layers, " layers (corrupt)");
  Index expected_params = 0;
  for (std::uint32_t k = 0; k < layers; ++k) {
    const auto n = in.get<std::int64_t>("sizes");
    require<DataError>(n >= 1 && n <= (std::int64_t(1) << 24), name, ": field 'sizes' has layer ", k, " of size ",
                       n, " (corrupt)");
    if (k > 0) expected_params += n * (c.sizes.back() + 1);  // W_k and b_k
    c.sizes.push_back(n);
  }
  const std::string activation = in.get_string("activation", 64);
  try {
    c.activation = Activation::parse(activation);
  } catch (const InvalidOptions&) {
    throw DataError(name + ": field 'activation' is '" + activation + "', not an activation");
  }
  c.params = in.get_vector<T>("params", expected_params);
  require<DataError>(c.params.allFinite(), name, ": field 'params' holds non-finite values");
  c.optimizer_state = in.get_string("optimizer_state", std::size_t(1) << 40);
  c.epoch = in.get<std::int64_t>("epoch");
  require<DataError>(c.epoch >= 0, name, ": field 'epoch' is negative (", c.epoch, ")");
  c.step = in.get<std::int64_t>("step");
  require<DataError>(c.step >= 0, name, ": field 'step' is negative (", c.step, ")");
  c.seed = in.get<std::uint64_t>("seed");
  c.config = in.get_string("config");
  require<DataError>(in.remaining() == 0, name, ": ", in.remaining(), " unexpected bytes after the last field");
  return c;
}

}  // namespace ebm
