// The IDX reader against small files written here, plain and gzipped, and against each way
// a file can be wrong: every error must be a DataError naming the file and the problem.
#include <gtest/gtest.h>
#include <zlib.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"

namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<unsigned char>;

Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& data, unsigned char type = 0x08) {
  Bytes out = {0, 0, type, static_cast<unsigned char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes images_data(int count, int rows, int cols) {
  Bytes data;
  for (int i = 0; i < count * rows * cols; ++i) data.push_back(static_cast<unsigned char>((i * 37) % 256));
  return data;
}

class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ebm_idx_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_plain(const std::string& name, const Bytes& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return p;
  }
  fs::path write_gz(const std::string& name, const Bytes& bytes) {
    const fs::path p = dir_ / name;
    gzFile f = gzopen(p.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (!bytes.empty()) {
      EXPECT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    }
    gzclose(f);
    return p;
  }
  /// Expects read_idx (or the dataset loader) to throw a DataError whose message names the file and `problem`.
  template <class F>
  void expect_error(F&& f, const fs::path& file, const std::string& problem) {
    try {
      f();
      FAIL() << "no error for " << file;
    } catch (const ebm::DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(file.string()), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << "expected '" << problem << "' in: " << what;
    }
  }

  fs::path dir_;
};

TEST_F(IdxFiles, ReadsPlainAndGzippedAlike) {
  const Bytes bytes = idx_bytes({3, 2, 4}, images_data(3, 2, 4));
  for (const fs::path& p : {write_plain("a-idx3-ubyte", bytes), write_gz("a-idx3-ubyte.gz", bytes)}) {
    const ebm::IdxArray a = ebm::read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<std::uint32_t>{3, 2, 4}));
    ASSERT_EQ(a.data.size(), 24u);
    for (int i = 0; i < 24; ++i) EXPECT_EQ(a.data[std::size_t(i)], (i * 37) % 256);
  }
}

TEST_F(IdxFiles, DatasetScalesPixelsAndKeepsLabels) {
  const fs::path images = write_gz("i.gz", idx_bytes({3, 2, 2}, {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}));
  const fs::path labels = write_plain("l", idx_bytes({3}, {7, 0, 9}));
  const auto data = ebm::load_idx_dataset<float>(images, labels);
  ASSERT_EQ(data.size(), 3);
  ASSERT_EQ(data.images.rows(), 4);
  EXPECT_FLOAT_EQ(data.images(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(data.images(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(data.images(2, 0), 0.2f);
  EXPECT_FLOAT_EQ(data.images(3, 2), 8.0f / 255.0f);  // example 2 is column 2, row-major pixels
  EXPECT_EQ(data.labels, (std::vector<int>{7, 0, 9}));
}

TEST_F(IdxFiles, FashionMnistLoaderFindsPlainFiles) {
  write_plain("t10k-images-idx3-ubyte", idx_bytes({2, 28, 28}, images_data(2, 28, 28)));
  write_plain("t10k-labels-idx1-ubyte", idx_bytes({2}, {1, 2}));
  const auto data = ebm::load_fashion_mnist<double>(dir_, "t10k");
  EXPECT_EQ(data.size(), 2);
  EXPECT_EQ(data.images.rows(), 784);
  expect_error([&] { ebm::load_fashion_mnist<double>(dir_, "train"); }, dir_ / "train-images-idx3-ubyte.gz",
               "no such file");
}

TEST_F(IdxFiles, MissingFile) {
  const fs::path p = dir_ / "nothing";
  expect_error([&] { ebm::read_idx(p); }, p, "no such file");
}

TEST_F(IdxFiles, EmptyFile) {
  for (const fs::path& p : {write_plain("empty", {}), write_gz("empty.gz", {})})
    expect_error([&] { ebm::read_idx(p); }, p, "file ends after 0 of the 4 bytes of the header");
}

TEST_F(IdxFiles, TruncatedHeader) {
  Bytes bytes = idx_bytes({3, 2, 4}, {});
  bytes.resize(9);  // the second dimension cut in half
  for (const fs::path& p : {write_plain("h", bytes), write_gz("h.gz", bytes)})
    expect_error([&] { ebm::read_idx(p); }, p, "bytes of the header");
}

TEST_F(IdxFiles, TruncatedData) {
  Bytes bytes = idx_bytes({3, 2, 4}, images_data(3, 2, 4));
  bytes.resize(bytes.size() - 5);
  const fs::path plain = write_plain("d", bytes);
  expect_error([&] { ebm::read_idx(plain); }, plain, "file ends after 19 of the 24 bytes of the data");
  const fs::path gz = write_gz("d.gz", bytes);
  expect_error([&] { ebm::read_idx(gz); }, gz, "file ends after 19 of the 24 bytes of the data");
}

TEST_F(IdxFiles, HugeClaimIsRejectedBeforeAllocating) {
  // 4 × 2^32−1 elements: must be refused from the header alone, plain or compressed.
  const Bytes bytes = idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, images_data(1, 1, 8));
  for (const fs::path& p : {write_plain("big", bytes), write_gz("big.gz", bytes)})
    expect_error([&] { ebm::read_idx(p); }, p, "more than any plausible dataset");
  // Dimensions whose product wraps around 2^64 (2^32−1 to the fourth power, times 8 bytes) too.
  const Bytes wrap = idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}, 0x0E);
  for (const fs::path& p : {write_plain("wrap", wrap), write_gz("wrap.gz", wrap)})
    expect_error([&] { ebm::read_idx(p); }, p, "more than any plausible dataset");
  // Plausible count but far more than the file holds: the file size says so before allocating.
  const fs::path p = write_plain("lie", idx_bytes({60000, 28, 28}, images_data(1, 1, 8)));
  expect_error([&] { ebm::read_idx(p); }, p, "file ends after 8 of the 47040000 bytes");
  // Compressed: no gzip file of a few dozen bytes inflates to 47 MB, which the header alone shows.
  const fs::path g = write_gz("lie.gz", idx_bytes({60000, 28, 28}, images_data(1, 1, 8)));
  expect_error([&] { ebm::read_idx(g); }, g, "bytes can inflate to");
  // A lie within deflate's ratio: the buffer grows with the data, so it ends in a truncation error.
  const fs::path h = write_gz("lie2.gz", idx_bytes({1000}, images_data(1, 1, 8)));
  expect_error([&] { ebm::read_idx(h); }, h, "file ends after 8 of the 1000 bytes of the data");
}

TEST_F(IdxFiles, WrongMagic) {
  Bytes bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x1f;
  bytes[1] = 0x00;
  const fs::path p = write_plain("m", bytes);
  expect_error([&] { ebm::read_idx(p); }, p, "bad magic number");
}

TEST_F(IdxFiles, UnsupportedType) {
  const fs::path p = write_gz("t.gz", idx_bytes({2}, {0, 0, 0, 1, 0, 0, 0, 2}, 0x0C));  // int32
  expect_error([&] { ebm::read_idx(p); }, p, "element type 0x0c is not supported");
}

TEST_F(IdxFiles, ZeroOrTooManyDimensions) {
  const fs::path p = write_plain("z", idx_bytes({}, {}));
  expect_error([&] { ebm::read_idx(p); }, p, "claims 0 dimensions");
  const fs::path q = write_plain("five", idx_bytes({1, 1, 1, 1, 1}, {7}));
  expect_error([&] { ebm::read_idx(q); }, q, "claims 5 dimensions");
}

TEST_F(IdxFiles, TrailingBytes) {
  Bytes bytes = idx_bytes({2}, {1, 2});
  bytes.push_back(3);
  const fs::path plain = write_plain("x", bytes);
  expect_error([&] { ebm::read_idx(plain); }, plain, "trailing bytes");
  const fs::path gz = write_gz("x.gz", bytes);
  expect_error([&] { ebm::read_idx(gz); }, gz, "trailing bytes");
}

TEST_F(IdxFiles, CorruptGzipStream) {
  const Bytes bytes = idx_bytes({3, 2, 4}, images_data(3, 2, 4));
  const fs::path p = write_gz("c.gz", bytes);
  std::vector<char> raw(fs::file_size(p));
  std::ifstream(p, std::ios::binary).read(raw.data(), std::streamsize(raw.size()));
  for (std::size_t i = 12; i < raw.size() - 8; ++i) raw[i] = char(raw[i] ^ 0x5A);  // scramble the deflate data
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(raw.data(), std::streamsize(raw.size()));
  expect_error([&] { ebm::read_idx(p); }, p, "corrupt compressed data");
}

TEST_F(IdxFiles, WrongDimensionsForImagesOrLabels) {
  const fs::path images = write_plain("i", idx_bytes({2, 1, 1, 2}, {1, 2, 3, 4}));
  const fs::path labels = write_plain("l", idx_bytes({2}, {0, 1}));
  expect_error([&] { ebm::load_idx_dataset<float>(images, labels); }, images, "expected 3 dimensions");
  const fs::path good = write_plain("g", idx_bytes({2, 1, 2}, {1, 2, 3, 4}));
  const fs::path labels2 = write_plain("l2", idx_bytes({2, 1}, {0, 1}));
  expect_error([&] { ebm::load_idx_dataset<float>(good, labels2); }, labels2, "expected 1 dimension");
}

TEST_F(IdxFiles, CountMismatchBetweenImagesAndLabels) {
  const fs::path images = write_plain("i", idx_bytes({3, 1, 2}, images_data(3, 1, 2)));
  const fs::path labels = write_gz("l.gz", idx_bytes({2}, {0, 1}));
  try {
    ebm::load_idx_dataset<float>(images, labels);
    FAIL();
  } catch (const ebm::DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(images.string() + " has 3 images"), std::string::npos) << what;
    EXPECT_NE(what.find(labels.string() + " has 2 labels"), std::string::npos) << what;
  }
}

TEST_F(IdxFiles, LabelOutOfRange) {
  const fs::path images = write_plain("i", idx_bytes({3, 1, 2}, images_data(3, 1, 2)));
  const fs::path labels = write_plain("l", idx_bytes({3}, {0, 10, 1}));
  expect_error([&] { ebm::load_idx_dataset<float>(images, labels); }, labels, "label 10 of example 1 is outside 0…9");
}

// ---- Hostile inputs beyond the header's fields --------------------------------------------

TEST_F(IdxFiles, DirectoryInsteadOfFile) {
  const fs::path d = dir_ / "train-images-idx3-ubyte";
  fs::create_directories(d);
  expect_error([&] { ebm::read_idx(d); }, d, "is a directory, not a file");
}

TEST_F(IdxFiles, GzipStreamCutShort) {
  const fs::path p = write_gz("cut.gz", idx_bytes({50, 4, 4}, images_data(50, 4, 4)));
  const auto size = fs::file_size(p);
  fs::resize_file(p, size / 2);  // the deflate stream and the gzip trailer cut off
  try {
    ebm::read_idx(p);
    FAIL() << "no error";
  } catch (const ebm::DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(p.string()), std::string::npos) << what;
    // zlib reports a cut stream either as an early end or as an error: either message is honest.
    EXPECT_TRUE(what.find("file ends after") != std::string::npos || what.find("corrupt compressed") != std::string::npos)
        << what;
  }
}

TEST_F(IdxFiles, GzipMagicWithGarbageBehind) {
  // Starts like gzip (1f 8b 08) and then is not: not mistaken for a plain IDX file either.
  const fs::path p = write_plain("fake.gz", Bytes{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3});
  try {
    ebm::read_idx(p);
    FAIL() << "no error";
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
}

/// IDX bytes of big-endian floats (0x0D) or doubles (0x0E).
template <class F>
Bytes float_idx(const std::vector<std::uint32_t>& dims, const std::vector<F>& values) {
  Bytes data;
  for (F v : values) {
    using U = std::conditional_t<sizeof(F) == 4, std::uint32_t, std::uint64_t>;
    const U bits = std::bit_cast<U>(v);
    for (int shift = int(8 * sizeof(F)) - 8; shift >= 0; shift -= 8) data.push_back((unsigned char)(bits >> shift));
  }
  return idx_bytes(dims, data, sizeof(F) == 4 ? 0x0D : 0x0E);
}

TEST_F(IdxFiles, FloatPixelsAreReadAsTheyAre) {
  const fs::path images = write_gz("f.gz", float_idx<float>({2, 3}, {0.5f, -1.25f, 3e5f, 0, 1, 2}));
  const fs::path doubles = write_plain("d", float_idx<double>({2, 3}, {0.5, -1.25, 3e5, 0, 1, 2}));
  const fs::path labels = write_plain("l", idx_bytes({2}, {4, 5}));
  for (const fs::path& p : {images, doubles}) {
    const auto data = ebm::load_idx_dataset<double>(p, labels);
    ASSERT_EQ(data.images.rows(), 3);
    EXPECT_EQ(data.images(1, 0), -1.25);
    EXPECT_EQ(data.images(2, 0), 3e5);
    EXPECT_EQ(data.images(2, 1), 2.0);
  }
}

TEST_F(IdxFiles, NaNOrInfinitePixelsAreRefusedAtLoadNamingTheExample) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const fs::path labels = write_plain("l", idx_bytes({3}, {0, 1, 2}));
  const fs::path with_nan = write_plain("nan", float_idx<float>({3, 2}, {0, 0, 0, 0, 0, nan}));
  expect_error([&] { ebm::load_idx_dataset<float>(with_nan, labels); }, with_nan, "pixel 1 of example 2 is nan");
  const fs::path with_inf = write_gz("inf.gz", float_idx<float>({3, 2}, {0, -inf, 0, 0, 0, 0}));
  expect_error([&] { ebm::load_idx_dataset<float>(with_inf, labels); }, with_inf, "pixel 1 of example 0 is -inf");
  // Finite in double, infinite in float: refused when loading as float, accepted as double.
  const fs::path big = write_plain("big", float_idx<double>({3, 2}, {0, 0, 1e300, 0, 0, 0}));
  expect_error([&] { ebm::load_idx_dataset<float>(big, labels); }, big, "beyond the range of float");
  EXPECT_NO_THROW(ebm::load_idx_dataset<double>(big, labels));
}

TEST_F(IdxFiles, LabelsMustBeBytes) {
  const fs::path images = write_plain("i", idx_bytes({2, 2}, {1, 2, 3, 4}));
  const fs::path labels = write_plain("l", float_idx<float>({2}, {1.0f, 2.0f}));
  expect_error([&] { ebm::load_idx_dataset<float>(images, labels); }, labels, "labels must be unsigned bytes");
}

TEST_F(IdxFiles, ImagesWithZeroPixels) {
  const fs::path images = write_plain("i", idx_bytes({2, 0, 5}, {}));
  const fs::path labels = write_plain("l", idx_bytes({2}, {0, 1}));
  expect_error([&] { ebm::load_idx_dataset<float>(images, labels); }, images, "images have zero pixels");
}

TEST_F(IdxFiles, InMemoryDatasetsAreCheckedToo) {
  ebm::LabelledImages<float> d;
  d.images = ebm::Matrix<float>::Zero(4, 3);
  d.labels = {1, 2, 3};
  EXPECT_NO_THROW(ebm::require_valid_dataset(d, "the training set"));
  d.images(2, 1) = std::numeric_limits<float>::quiet_NaN();
  try {
    ebm::require_valid_dataset(d, "the training set");
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("the training set: pixel 2 of example 1 is nan"), std::string::npos)
        << e.what();
  }
  d.images(2, 1) = 0;
  d.labels[2] = 12;
  EXPECT_THROW(ebm::require_valid_dataset(d, "the training set"), ebm::DataError);
  d.labels.pop_back();
  EXPECT_THROW(ebm::require_valid_dataset(d, "the training set"), ebm::DataError);
}

}  // namespace
