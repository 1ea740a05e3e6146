#pragma once
/// \file
/// Checkpoints: everything needed to continue a training run exactly — the network (its model
/// kind, the options it was built from, its parameter blocks by name and shape, the parameters),
/// the optimizer's state, how far the run got (epoch, step) and its seed — plus the effective
/// configuration, in one binary file. A tool rebuilds any registered model from the kind and its
/// options (cli/registry.hpp); the blocks let it check the parameters fit before loading them.
///
/// Layout (little-endian):
/// \code
///   "EBMCKPT\n"  8 bytes   magic
///   version      u32       kCheckpointVersion
///   payload size u64
///   crc32        u32       zlib's CRC-32 of the payload
///   payload:     scalar size (u8: 4 float, 8 double), model kind (string), model options
///                (string: the [model] table as TOML), block count (u32) and per block its name
///                (string), rows and cols (i64 each), parameters (u64 count + raw), optimizer
///                state (string), epoch (i64), step (i64), seed (u64), config (string)
/// \endcode
/// Version 1 (layered Hopfield networks only: layer count (u32) and sizes (i64 each), activation
/// (string) where version 2 has kind, options and blocks) is still read, as a `layered_hopfield`
/// with those sizes and activation; it is written as version 2 at the next checkpoint.
/// The file is written with write_file_atomically, so an interrupted write leaves the previous
/// checkpoint in place; reading checks every field and the CRC, and throws DataError naming
/// the file and the field, so a damaged file is never half-loaded.

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/activation.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/types.hpp"
#include "training/serialize.hpp"

namespace ebm {

inline constexpr char kCheckpointMagic[8] = {'E', 'B', 'M', 'C', 'K', 'P', 'T', '\n'};
inline constexpr std::uint32_t kCheckpointVersion = 2;
inline constexpr std::uint32_t kCheckpointVersionLayeredHopfield = 1;  ///< still read

/// The content of a checkpoint. `optimizer_state` is what Optimizer::save wrote.
template <class T>
struct Checkpoint {
  std::string model_kind = "layered_hopfield";  ///< the registry's name of the model
  std::string model_options;                   ///< the model's options, as the [model] table in TOML
  std::vector<ParamBlock> blocks;              ///< names and shapes of the parameter blocks, laid out in `params`
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
constexpr std::size_t kCheckpointHeader = 8 + 4 + 8 + 4;
}  // namespace detail

/// The checkpoint as bytes (see the file comment for the layout).
template <class T>
std::string serialize_checkpoint(const Checkpoint<T>& c) {
  ByteWriter payload;
  payload.put<std::uint8_t>(sizeof(T));
  payload.put_string(c.model_kind);
  payload.put_string(c.model_options);
  payload.put<std::uint32_t>(std::uint32_t(c.blocks.size()));
  for (const ParamBlock& b : c.blocks) {
    payload.put_string(b.name);
    payload.put<std::int64_t>(b.rows);
    payload.put<std::int64_t>(b.cols);
  }
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

/// "W1 3x4, b1 3": parameter blocks by name and shape, for messages.
inline std::string describe_blocks(const std::vector<ParamBlock>& blocks) {
  std::string out;
  for (const ParamBlock& b : blocks) {
    if (!out.empty()) out.append(", ");
    out.append(b.name).append(" ").append(std::to_string(b.rows));
    if (b.cols != 1) out.append("x").append(std::to_string(b.cols));
  }
  return out;
}

/// Throws DataError naming the file unless a checkpoint's blocks are the model's (names, shapes, layout).
inline void require_same_blocks(const std::vector<ParamBlock>& saved, const std::vector<ParamBlock>& model,
                                const std::string& name) {
  bool same = saved.size() == model.size();
  for (std::size_t i = 0; same && i < saved.size(); ++i)
    same = saved[i].name == model[i].name && saved[i].rows == model[i].rows && saved[i].cols == model[i].cols &&
           saved[i].offset == model[i].offset;
  require<DataError>(same, name, ": field 'blocks' is ", describe_blocks(saved), " but the model's is ",
                     describe_blocks(model));
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
/// Checks the header of a checkpoint: magic, version, and a payload size matching the bytes
/// that follow (`available`); returns the payload size, its CRC and the version.
struct CheckpointHeader {
  std::uint64_t size;
  std::uint32_t crc;
  std::uint32_t version;
};
inline CheckpointHeader checked_header(const std::string& name, std::string_view header,
                                                              std::uint64_t available) {
  require<DataError>(header.size() >= kCheckpointHeader, name, ": not an ebm checkpoint (", header.size(),
                     " bytes, shorter than the ", kCheckpointHeader, "-byte header)");
  require<DataError>(header.substr(0, 8) == std::string_view(kCheckpointMagic, 8), name,
                     ": not an ebm checkpoint (bad magic number)");
  ByteReader in(header.substr(8, kCheckpointHeader - 8), name);
  const auto version = in.get<std::uint32_t>("version");
  require<DataError>(version == kCheckpointVersion || version == kCheckpointVersionLayeredHopfield, name,
                     ": checkpoint version ", version, " is not supported (this build reads versions ",
                     kCheckpointVersionLayeredHopfield, " and ", kCheckpointVersion,
                     "); a newer ebm wrote it: read it with that build");
  const auto size = in.get<std::uint64_t>("payload size");
  const auto crc = in.get<std::uint32_t>("crc32");
  require<DataError>(size == available, name, ": field 'payload size' says ", size, " bytes but the file holds ",
                     available, " (truncated or corrupt)");
  return {size, crc, version};
}

/// Reads a checkpoint file's payload after checking its header against the file's size, so that
/// a file that is not a checkpoint (a dataset, a directory) is refused before it is read whole.
inline std::string read_checked_payload(const std::filesystem::path& path, std::uint32_t* version = nullptr) {
  const std::string name = path.string();
  require_regular_file(path, "checkpoint");
  std::error_code ec;
  const std::uint64_t file_bytes = std::filesystem::file_size(path, ec);
  require<DataError>(!ec, name, ": cannot read its size (", ec.message(), ")");
  std::ifstream in(path, std::ios::binary);
  require<DataError>(bool(in), name, ": cannot open for reading");
  std::string header(kCheckpointHeader, '\0');
  in.read(header.data(), std::streamsize(header.size()));
  header.resize(std::size_t(in.gcount()));
  const std::uint64_t available = file_bytes >= kCheckpointHeader ? file_bytes - kCheckpointHeader : 0;
  const auto [size, crc, file_version] = checked_header(name, header, available);
  if (version) *version = file_version;
  std::string payload(std::size_t(size), '\0');
  in.read(payload.data(), std::streamsize(size));
  require<DataError>(std::uint64_t(in.gcount()) == size, name, ": file ends after ", in.gcount(), " of the ", size,
                     " payload bytes (changed while being read?)");
  require<DataError>(crc32_of(payload) == crc, name, ": field 'crc32' does not match the content (corrupt file)");
  return payload;
}
}  // namespace detail

inline int checkpoint_scalar_size(const std::filesystem::path& path) {
  const std::string payload = detail::read_checked_payload(path);
  ByteReader in(payload, path.string());
  return in.get<std::uint8_t>("scalar");
}

/// Reads and validates a checkpoint; throws DataError naming the file and the bad field.
template <class T>
Checkpoint<T> read_checkpoint(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::uint32_t version = 0;
  const std::string payload = detail::read_checked_payload(path, &version);
  ByteReader in(payload, name);
  Checkpoint<T> c;
  const auto scalar = in.get<std::uint8_t>("scalar");
  require<DataError>(scalar == sizeof(T), name, ": field 'scalar': the checkpoint holds ",
                     scalar == 4 ? "float" : scalar == 8 ? "double" : "unknown", " parameters, but ",
                     sizeof(T) == 4 ? "float" : "double", " was asked for (set model.scalar to match)");
  Index expected_params = 0;
  if (version == kCheckpointVersionLayeredHopfield) {
    // Version 1: a layered Hopfield network given by its sizes and activation.
    const auto layers = in.get<std::uint32_t>("sizes");
    require<DataError>(layers >= 2 && layers <= 1000, name, ": field 'sizes' has ", layers, " layers (corrupt)");
    std::vector<std::int64_t> sizes;
    for (std::uint32_t k = 0; k < layers; ++k) {
      const auto n = in.get<std::int64_t>("sizes");
      require<DataError>(n >= 1 && n <= (std::int64_t(1) << 24), name, ": field 'sizes' has layer ", k, " of size ",
                         n, " (corrupt)");
      sizes.push_back(n);
    }
    const std::string activation = in.get_string("activation", 64);
    try {
      Activation::parse(activation);
    } catch (const InvalidOptions&) {
      throw DataError(name + ": field 'activation' is '" + activation + "', not an activation");
    }
    c.model_kind = "layered_hopfield";
    std::string list;
    for (std::int64_t n : sizes) list += (list.empty() ? "" : ", ") + std::to_string(n);
    c.model_options = "kind = \"layered_hopfield\"\nsizes = [" + list + "]\nactivation = \"" + activation + "\"\n";
    Index offset = 0;
    for (std::size_t k = 1; k < sizes.size(); ++k) {  // LayeredHopfield's layout: W_1…W_L, then b_1…b_L
      c.blocks.push_back({"W" + std::to_string(k), offset, sizes[k], sizes[k - 1]});
      offset += sizes[k] * sizes[k - 1];
    }
    for (std::size_t k = 1; k < sizes.size(); ++k) {
      c.blocks.push_back({"b" + std::to_string(k), offset, sizes[k], 1});
      offset += sizes[k];
    }
    expected_params = offset;
  } else {
    c.model_kind = in.get_string("model_kind", 256);
    require<DataError>(!c.model_kind.empty(), name, ": field 'model_kind' is empty (corrupt)");
    c.model_options = in.get_string("model_options", std::size_t(1) << 20);
    const auto count = in.get<std::uint32_t>("blocks");
    require<DataError>(count >= 1 && count <= 100000, name, ": field 'blocks' has ", count, " blocks (corrupt)");
    for (std::uint32_t b = 0; b < count; ++b) {
      ParamBlock block;
      block.name = in.get_string("blocks", 256);
      block.rows = in.get<std::int64_t>("blocks");
      block.cols = in.get<std::int64_t>("blocks");
      require<DataError>(block.rows >= 0 && block.cols >= 0 && block.rows <= (std::int64_t(1) << 31) &&
                             block.cols <= (std::int64_t(1) << 31) &&
                             expected_params + block.rows * block.cols <= (std::int64_t(1) << 40),
                         name, ": field 'blocks': block '", block.name, "' is ", block.rows, " x ", block.cols,
                         " (corrupt)");
      block.offset = expected_params;
      expected_params += block.rows * block.cols;
      c.blocks.push_back(std::move(block));
    }
  }
  c.params = in.get_vector<T>("params", expected_params);
  if (!c.params.allFinite())
    for (Index i = 0; i < c.params.size(); ++i)
      require<DataError>(std::isfinite(c.params[i]), name, ": field 'params' holds non-finite values (entry ", i,
                         " is ", c.params[i], ")");
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
