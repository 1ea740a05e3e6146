#pragma once
/// \file
/// Data augmentation of training images: a random translation (zero padding, as a random crop of
/// the image padded by `shift` pixels on every side) and an optional horizontal mirror, drawn
/// afresh for every example in every epoch. Evaluation never sees it.
///
/// Each example's draw comes from its own stream, Rng(seed, (epoch, example index)), so the
/// augmented minibatch is the same whatever the threads, chunks or pieces that gather it, and a
/// resumed run repeats the original exactly.

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/types.hpp"
#include "data/split.hpp"

namespace ebm {

/// What an augmentation does, and to which image layout. Pixels are stored channel-fastest,
/// (row · width + column) · channels + channel, the layout of the convolutional models' input
/// (and, with one channel, of the IDX files' row-major images).
struct Augmentation {
  Index channels = 1;
  Index height = 0;  ///< 0: unknown (an augmentation is then refused)
  Index width = 0;
  int shift = 0;       ///< largest translation, pixels, in each direction (0: none)
  bool flip = false;   ///< mirror left–right with probability ½
  std::uint64_t seed = 1;

  bool active() const { return shift > 0 || flip; }

  /// Throws InvalidOptions unless this fits images of `pixels` pixels (nothing to check when inactive).
  void validate(Index pixels) const {
    require<InvalidOptions>(shift >= 0, "data.augment_shift must be ≥ 0, got ", shift);
    if (!active()) return;
    require<InvalidOptions>(height > 0 && width > 0 && channels > 0,
                            "data.augment_shift / augment_flip need the images' shape: set data.image_shape = "
                            "[channels, height, width] (the IDX files give it for 3-dimensional images)");
    require<InvalidOptions>(channels * height * width == pixels, "data.image_shape = [", channels, ", ", height, ", ",
                            width, "] has ", channels * height * width, " pixels but the images have ", pixels);
    require<InvalidOptions>(shift < height && shift < width, "data.augment_shift = ", shift,
                            " must be less than the images' height ", height, " and width ", width);
  }
};

/// One draw: the translation (rows down, columns right) and whether to mirror.
struct AugmentDraw {
  int down = 0;
  int right = 0;
  bool mirror = false;
};

/// The draw of example `index` in epoch `epoch`.
inline AugmentDraw augment_draw(const Augmentation& a, std::uint64_t epoch, Index index) {
  // A family of its own (the shuffles use Rng(seed, 1), Rng(seed, 2 + epoch)), one stream per
  // (epoch, example): no two draws share a stream for 2³² examples and epochs.
  Rng rng(a.seed ^ 0xA5C3'96E1'0D4B'7F21ull, (epoch << 32) ^ std::uint64_t(index));
  AugmentDraw d;
  if (a.shift > 0) {
    const std::uint64_t span = std::uint64_t(2 * a.shift + 1);
    d.down = int(uniform_below(rng, span)) - a.shift;
    d.right = int(uniform_below(rng, span)) - a.shift;
  }
  if (a.flip) d.mirror = (rng.next() >> 63) != 0;
  return d;
}

/// Applies `d` to one image in place (`pixels` entries at `image`); `scratch` holds a copy.
template <class T>
void apply_augment(const Augmentation& a, const AugmentDraw& d, T* image, std::vector<T>& scratch) {
  const Index c = a.channels, h = a.height, w = a.width;
  scratch.assign(image, image + c * h * w);
  for (Index y = 0; y < h; ++y) {
    const Index from_y = y - d.down;
    for (Index x = 0; x < w; ++x) {
      Index from_x = x - d.right;  // the translated image, mirrored afterwards
      if (d.mirror) from_x = (w - 1 - x) - d.right;
      T* out = image + (y * w + x) * c;
      if (from_y < 0 || from_y >= h || from_x < 0 || from_x >= w) {
        for (Index k = 0; k < c; ++k) out[k] = T(0);
      } else {
        const T* in = scratch.data() + (from_y * w + from_x) * c;
        for (Index k = 0; k < c; ++k) out[k] = in[k];
      }
    }
  }
}

/// Augments columns [first, first + count) of x, which hold the examples `indices` (as gather()
/// and gather_part() leave them), for epoch `epoch`. Nothing happens when `a` is inactive.
template <class T>
void augment_part(const Augmentation& a, std::span<const Index> indices, std::uint64_t epoch, Index first, Index count,
                  Matrix<T>& x) {
  if (!a.active()) return;
  std::vector<T> scratch;
  for (Index j = first; j < first + count; ++j)
    apply_augment(a, augment_draw(a, epoch, indices[std::size_t(j)]), x.col(j).data(), scratch);
}

}  // namespace ebm
