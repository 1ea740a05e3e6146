// libFuzzer target: the IDX reader on arbitrary bytes (a plain file), and the dataset loader on
// an image/label pair cut from them. Every input must end in a result or an ebm::DataError:
// never a crash, a sanitizer report, a hang, or an allocation the file cannot justify.
#include <cstddef>
#include <cstdint>

#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ebm::fuzz::InputFile images("-images-idx3-ubyte"), labels("-labels-idx1-ubyte");
  try {
    ebm::read_idx(images.write(data, size));
  } catch (const ebm::DataError&) {
  }
  // The pair: the first two bytes say where the image file ends and the label file begins.
  if (size >= 2) {
    const std::size_t cut = std::min<std::size_t>(size - 2, std::size_t(data[0]) << 8 | data[1]);
    images.write(data + 2, cut);
    labels.write(data + 2 + cut, size - 2 - cut);
    try {
      const auto set = ebm::load_idx_dataset<float>(images.path(), labels.path());
      if (!set.images.allFinite()) __builtin_trap();  // NaN pixels must have been refused
    } catch (const ebm::DataError&) {
    }
  }
  return 0;
}
