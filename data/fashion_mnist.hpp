#pragma once
/// \file
/// The Fashion-MNIST dataset (Xiao, Rasul & Vollgraf 2017): 28×28 grey images of ten kinds
/// of clothing, 60 000 for training and 10 000 for testing, as Debian's
/// `dataset-fashion-mnist` package installs them.

#include <array>
#include <cmath>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "data/idx.hpp"

namespace ebm {

/// Where Debian's `dataset-fashion-mnist` puts the files.
inline const std::filesystem::path kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

inline constexpr std::array<std::string_view, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// A labelled image set: one image per column, pixels scaled to [0, 1].
template <class T>
struct LabelledImages {
  Matrix<T> images;         ///< pixels × examples
  std::vector<int> labels;  ///< class of each column, 0…9
  Index height = 0;         ///< each image's rows and columns when known (3-dimensional IDX files), else 0
  Index width = 0;
  Index size() const { return images.cols(); }
};

/// Loads any IDX image/label pair (MNIST, Fashion-MNIST, or a dataset of the same layout at a
/// path the user gives): images of shape (count, rows, columns) or (count, features), labels of
/// shape (count) in 0…classes−1. Unsigned-byte pixels are scaled by 1/255 to [0, 1]; float32 or
/// float64 pixels are taken as they are and must be finite. Throws ebm::DataError naming the file
/// and the problem (missing, corrupt, shapes that disagree, labels out of range, a NaN or infinite
/// pixel with its example and index).
template <class T>
LabelledImages<T> load_idx_dataset(const std::filesystem::path& image_path, const std::filesystem::path& label_path,
                                   int classes = 10) {
  const IdxArray images = read_idx(image_path);
  const IdxArray labels = read_idx(label_path);
  require<DataError>(images.dims.size() == 2 || images.dims.size() == 3, image_path.string(),
                     ": expected 3 dimensions (count, rows, columns) or 2 (count, features) for images, got ",
                     images.dims.size());
  require<DataError>(labels.dims.size() == 1, label_path.string(), ": expected 1 dimension (count) for labels, got ",
                     labels.dims.size());
  require<DataError>(labels.type == kIdxUnsignedByte, label_path.string(), ": labels must be unsigned bytes (0x08), got ",
                     idx_type_name(labels.type));
  require<DataError>(images.dims[0] == labels.dims[0], image_path.string(), " has ", images.dims[0], " images but ",
                     label_path.string(), " has ", labels.dims[0], " labels");
  const Index n = images.dims[0];
  Index pixels = 1;
  for (std::size_t d = 1; d < images.dims.size(); ++d) pixels *= Index(images.dims[d]);
  require<DataError>(n == 0 || pixels > 0, image_path.string(), ": images have zero pixels");
  LabelledImages<T> out;
  if (images.dims.size() == 3) {
    out.height = Index(images.dims[1]);
    out.width = Index(images.dims[2]);
  }
  out.labels.resize(std::size_t(n));
  for (Index j = 0; j < n; ++j) {
    const int label = labels.data[std::size_t(j)];
    require<DataError>(label < classes, label_path.string(), ": label ", label, " of example ", j,
                       " is outside 0…", classes - 1);
    out.labels[std::size_t(j)] = label;
  }
  out.images.resize(pixels, n);
  if (images.type == kIdxUnsignedByte) {
    const T scale = T(1) / T(255);
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < pixels; ++i) out.images(i, j) = T(images.data[std::size_t(j * pixels + i)]) * scale;
    return out;
  }
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < pixels; ++i) {
      // A NaN pixel would surface much later as a diverged relaxation: refuse it here, where the
      // file and the example are known. A float64 beyond float's range is infinite for T = float.
      const T v = T(images.value(std::size_t(j * pixels + i)));
      require<DataError>(std::isfinite(v), image_path.string(), ": pixel ", i, " of example ", j, " is ",
                         images.value(std::size_t(j * pixels + i)),
                         std::isfinite(images.value(std::size_t(j * pixels + i))) ? " (beyond the range of float)" : "",
                         "; every pixel must be a finite number");
      out.images(i, j) = v;
    }
  return out;
}

/// Throws ebm::DataError unless every pixel of `data` is finite and every label in 0…classes−1;
/// `what` names the set ("the training set"). For datasets built in memory rather than read by
/// load_idx_dataset, which checks as it reads.
template <class T>
void require_valid_dataset(const LabelledImages<T>& data, const std::string& what, int classes = 10) {
  require<DataError>(Index(data.labels.size()) == data.images.cols(), what, " has ", data.images.cols(),
                     " images but ", data.labels.size(), " labels");
  if (!data.images.allFinite())
    for (Index j = 0; j < data.images.cols(); ++j)
      for (Index i = 0; i < data.images.rows(); ++i)
        require<DataError>(std::isfinite(data.images(i, j)), what, ": pixel ", i, " of example ", j, " is ",
                           data.images(i, j), "; every pixel must be a finite number");
  for (std::size_t j = 0; j < data.labels.size(); ++j)
    require<DataError>(data.labels[j] >= 0 && data.labels[j] < classes, what, ": label ", data.labels[j],
                       " of example ", j, " is outside 0…", classes - 1);
}

/// Loads the "train" or "t10k" split from `dir`, trying `<split>-images-idx3-ubyte.gz`
/// and then the uncompressed name. Throws ebm::DataError naming the file on any problem
/// (missing, corrupt, shapes that disagree, labels outside 0…9).
template <class T>
LabelledImages<T> load_fashion_mnist(const std::filesystem::path& dir, std::string_view split) {
  require<DataError>(split == "train" || split == "t10k", "Fashion-MNIST split must be 'train' or 't10k', got '",
                     split, "'");
  auto find = [&](const std::string& stem) {
    const std::filesystem::path gz = dir / (stem + ".gz");
    if (std::filesystem::exists(gz)) return gz;
    const std::filesystem::path raw = dir / stem;
    if (std::filesystem::exists(raw)) return raw;
    throw DataError(gz.string() + ": no such file (nor " + raw.string() +
                    "); on Debian, install the dataset-fashion-mnist package");
  };
  const std::filesystem::path images = find(std::string(split) + "-images-idx3-ubyte");  // images first: the
  const std::filesystem::path labels = find(std::string(split) + "-labels-idx1-ubyte");  // error names them
  return load_idx_dataset<T>(images, labels);
}

/// One-hot targets (10 × examples) for `labels`.
template <class T>
Matrix<T> one_hot(const std::vector<int>& labels, Index classes = 10) {
  Matrix<T> out = Matrix<T>::Zero(classes, Index(labels.size()));
  for (std::size_t j = 0; j < labels.size(); ++j) out(labels[j], Index(j)) = T(1);
  return out;
}

}  // namespace ebm
