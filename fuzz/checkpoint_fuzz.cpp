// libFuzzer target: the checkpoint reader. The first byte picks how the rest becomes a file:
// as it is (magic, header and CRC checks), or as a payload wrapped in a valid header with the
// right size and CRC-32, so that the fuzzer gets past the CRC to the field-by-field checks.
// A checkpoint that reads is then restored into an optimizer, as --resume does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.hpp"
#include "training/checkpoint.hpp"
#include "training/optimizer.hpp"

namespace {

template <class T>
void read_and_restore(const std::filesystem::path& path) {
  const ebm::Checkpoint<T> c = ebm::read_checkpoint<T>(path);
  if (!c.params.allFinite()) __builtin_trap();
  for (auto method : {ebm::OptimizerMethod::sgd, ebm::OptimizerMethod::adam}) {
    ebm::OptimizerOptions o;
    o.method = method;
    o.momentum = method == ebm::OptimizerMethod::sgd ? 0.9 : 0.0;
    ebm::Optimizer<T> optimizer(o, {{"all", 0, c.params.size(), 1}}, c.params.size());
    ebm::ByteReader state(c.optimizer_state, path.string());
    try {
      optimizer.load(state);
    } catch (const ebm::DataError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ebm::fuzz::InputFile file("-checkpoint.bin");
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    ebm::ByteWriter w;
    w.bytes().append(ebm::kCheckpointMagic, sizeof ebm::kCheckpointMagic);
    w.put<std::uint32_t>(ebm::kCheckpointVersion);
    w.put<std::uint64_t>(rest.size());
    w.put<std::uint32_t>(ebm::detail::crc32_of(rest));
    w.bytes() += rest;
    file.write(w.bytes().data(), w.bytes().size());
  } else {
    file.write(rest.data(), rest.size());
  }
  try {
    const int scalar = ebm::checkpoint_scalar_size(file.path());
    if (scalar == 4) read_and_restore<float>(file.path());
    else read_and_restore<double>(file.path());
  } catch (const ebm::DataError&) {
  }
  return 0;
}
