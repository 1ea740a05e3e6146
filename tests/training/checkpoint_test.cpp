// Checkpoints: round trip, every corruption caught by name, and an interrupted write (a child
// process killed mid-write by a file-size limit) that leaves the previous checkpoint readable.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <limits>

#include "training/checkpoint.hpp"
#include "training/optimizer.hpp"

namespace fs = std::filesystem;

namespace {

class CheckpointFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ebm_ckpt_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static ebm::Checkpoint<float> sample(ebm::Index hidden = 3, float fill = 0.25f) {
    ebm::Checkpoint<float> c;
    c.model_kind = "layered_hopfield";
    c.model_options = "sizes = [4, " + std::to_string(hidden) + ", 2]\nactivation = \"tanh\"\n";
    c.blocks = {{"W1", 0, hidden, 4}, {"W2", 4 * hidden, 2, hidden}, {"b1", 6 * hidden, hidden, 1},
                {"b2", 7 * hidden, 2, 1}};
    c.params = ebm::Vector<float>::LinSpaced(4 * hidden + hidden * 2 + hidden + 2, -1, 1) * fill;
    ebm::OptimizerOptions o;
    o.method = ebm::OptimizerMethod::adam;
    ebm::Optimizer<float> opt(o, {{"w", 0, c.params.size(), 1}}, c.params.size());
    ebm::Vector<float> p = c.params;
    opt.step(p, ebm::Vector<float>::Ones(p.size()));
    ebm::ByteWriter w;
    opt.save(w);
    c.optimizer_state = w.bytes();
    c.epoch = 3;
    c.step = 42;
    c.seed = 0xDEADBEEFCAFEull;
    c.config = "[model]\nsizes = [4, 3, 2]\n";
    return c;
  }
  void expect_error(const fs::path& p, const std::string& problem) {
    try {
      ebm::read_checkpoint<float>(p);
      FAIL() << "no error";
    } catch (const ebm::DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(p.string()), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << "expected '" << problem << "' in: " << what;
    }
  }
  std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void overwrite(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  }

  fs::path dir_;
};

TEST_F(CheckpointFile, RoundTrip) {
  const auto c = sample();
  const fs::path p = dir_ / "ckpt.bin";
  ebm::write_checkpoint(p, c);
  const auto r = ebm::read_checkpoint<float>(p);
  EXPECT_EQ(r.model_kind, c.model_kind);
  EXPECT_EQ(r.model_options, c.model_options);
  ASSERT_EQ(r.blocks.size(), c.blocks.size());
  for (std::size_t b = 0; b < c.blocks.size(); ++b) {
    EXPECT_EQ(r.blocks[b].name, c.blocks[b].name);
    EXPECT_EQ(r.blocks[b].rows, c.blocks[b].rows);
    EXPECT_EQ(r.blocks[b].cols, c.blocks[b].cols);
    EXPECT_EQ(r.blocks[b].offset, c.blocks[b].offset);
  }
  EXPECT_EQ(r.params, c.params);
  EXPECT_EQ(r.optimizer_state, c.optimizer_state);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.step, 42);
  EXPECT_EQ(r.seed, c.seed);
  EXPECT_EQ(r.config, c.config);
  EXPECT_EQ(ebm::checkpoint_scalar_size(p), 4);
  try {
    ebm::read_checkpoint<double>(p);
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("holds float parameters, but double"), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointFile, AnyFlippedByteIsCaught) {
  const fs::path p = dir_ / "ckpt.bin";
  ebm::write_checkpoint(p, sample());
  const std::string good = bytes_of(p);
  // Flip one byte at a time across the whole file: never accepted, always a DataError.
  for (std::size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ 0x10);
    overwrite(p, bad);
    EXPECT_THROW(ebm::read_checkpoint<float>(p), ebm::DataError) << "byte " << i;
  }
  std::string bad = good;
  bad[good.size() - 3] = char(bad[good.size() - 3] ^ 1);  // inside the payload
  overwrite(p, bad);
  expect_error(p, "field 'crc32' does not match");
  bad = good;
  bad[0] = 'X';
  overwrite(p, bad);
  expect_error(p, "bad magic number");
  bad = good;
  bad[8] = 9;
  overwrite(p, bad);
  expect_error(p, "checkpoint version 9 is not supported");
}

TEST_F(CheckpointFile, TruncatedOrEmptyIsCaught) {
  const fs::path p = dir_ / "ckpt.bin";
  ebm::write_checkpoint(p, sample());
  const std::string good = bytes_of(p);
  overwrite(p, good.substr(0, good.size() - 10));
  expect_error(p, "field 'payload size'");
  overwrite(p, good.substr(0, 10));
  expect_error(p, "shorter than the 24-byte header");
  overwrite(p, "");
  expect_error(p, "not an ebm checkpoint");
  expect_error(dir_ / "missing.bin", "no such checkpoint");
}

TEST_F(CheckpointFile, ValidCrcButInconsistentFieldsAreCaught) {
  // A payload whose CRC matches but whose content lies (a buggy writer): the fields are still checked.
  auto c = sample();
  c.params.conservativeResize(c.params.size() - 1);
  const fs::path p = dir_ / "ckpt.bin";
  ebm::write_checkpoint(p, c);
  expect_error(p, "field 'params' has");
  c = sample();
  c.epoch = -1;
  ebm::write_checkpoint(p, c);
  expect_error(p, "field 'epoch'");
}

TEST_F(CheckpointFile, InterruptedWriteLeavesThePreviousCheckpoint) {
  const fs::path p = dir_ / "ckpt.bin";
  const auto first = sample(3, 0.25f);
  ebm::write_checkpoint(p, first);
  // The next checkpoint is large; a child process writes it under a file-size limit smaller than
  // the file, so the kernel kills it (SIGXFSZ) in the middle of the write, before the rename.
  const std::string big = ebm::serialize_checkpoint(sample(20000, 0.5f));
  ASSERT_GT(big.size(), 200000u);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlimit limit{100000, 100000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    ebm::write_file_atomically(p, big);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child finished its write";
  EXPECT_EQ(WTERMSIG(status), SIGXFSZ);
  // A stray partial temporary file remains next to the checkpoint, which is untouched.
  int strays = 0;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (entry.path().filename().string().starts_with(".ckpt.bin.tmp.")) {
      ++strays;
      EXPECT_EQ(fs::file_size(entry.path()), 100000u);
    }
  EXPECT_EQ(strays, 1);
  const auto r = ebm::read_checkpoint<float>(p);
  EXPECT_EQ(r.params, first.params);
  // And the next successful write replaces it whole despite the stray file.
  ebm::write_checkpoint(p, sample(5, 0.5f));
  EXPECT_EQ(ebm::read_checkpoint<float>(p).blocks[0].rows, 5);
}

// ---- Hostile checkpoints: a valid header and CRC around a lying payload ----------------------

/// A checkpoint file around an arbitrary payload, with the right size and CRC, so that only the
/// payload's own checks stand between it and the reader.
std::string wrap_payload(const std::string& payload, std::uint32_t version = ebm::kCheckpointVersionLayeredHopfield) {
  ebm::ByteWriter file;
  file.bytes().append(ebm::kCheckpointMagic, sizeof ebm::kCheckpointMagic);
  file.put<std::uint32_t>(version);
  file.put<std::uint64_t>(payload.size());
  file.put<std::uint32_t>(ebm::detail::crc32_of(payload));
  file.bytes() += payload;
  return file.bytes();
}

/// A payload that is valid up to `stop` fields, for sizes {2, 1}: scalar, sizes, activation, params, …
std::string payload_prefix(std::uint32_t layers, std::vector<std::int64_t> sizes, const std::string& activation) {
  ebm::ByteWriter w;
  w.put<std::uint8_t>(4);
  w.put<std::uint32_t>(layers);
  for (std::int64_t n : sizes) w.put<std::int64_t>(n);
  w.put_string(activation);
  return w.bytes();
}

TEST_F(CheckpointFile, NonFiniteParametersAreRefused) {
  auto c = sample();
  c.params[5] = std::numeric_limits<float>::quiet_NaN();
  const fs::path p = dir_ / "ckpt.bin";
  ebm::write_checkpoint(p, c);
  expect_error(p, "field 'params' holds non-finite values");
}

TEST_F(CheckpointFile, LyingPayloadFieldsAreNamed) {
  const fs::path p = dir_ / "ckpt.bin";
  overwrite(p, wrap_payload(payload_prefix(0, {}, "tanh")));
  expect_error(p, "field 'sizes' has 0 layers");
  overwrite(p, wrap_payload(payload_prefix(4000000000u, {}, "tanh")));
  expect_error(p, "field 'sizes' has 4000000000 layers");
  overwrite(p, wrap_payload(payload_prefix(2, {3, -2}, "tanh")));
  expect_error(p, "field 'sizes' has layer 1 of size -2");
  overwrite(p, wrap_payload(payload_prefix(2, {3, std::int64_t(1) << 40}, "tanh")));
  expect_error(p, "of size 1099511627776");
  overwrite(p, wrap_payload(payload_prefix(2, {3, 2}, "relu")));
  expect_error(p, "field 'activation' is 'relu', not an activation");
  // A string whose length field claims far more than the file: refused before allocating.
  ebm::ByteWriter w;
  w.put<std::uint8_t>(4);
  w.put<std::uint32_t>(2);
  w.put<std::int64_t>(3);
  w.put<std::int64_t>(2);
  w.put<std::uint64_t>(std::uint64_t(1) << 60);
  overwrite(p, wrap_payload(w.bytes()));
  expect_error(p, "field 'activation' claims 1152921504606846976 bytes");
  // A parameter count that agrees with the sizes but not with the bytes present.
  std::string params = payload_prefix(2, {3, 2}, "tanh");
  ebm::ByteWriter n;
  n.put<std::uint64_t>(8);
  params += n.bytes() + std::string(12, '\0');
  overwrite(p, wrap_payload(params));
  expect_error(p, "field 'params' claims 8 entries but only 12 bytes remain");
  // Everything valid, then bytes nobody wrote.
  overwrite(p, wrap_payload(ebm::serialize_checkpoint(sample()).substr(24) + "xyz", ebm::kCheckpointVersion));
  expect_error(p, "3 unexpected bytes after the last field");
  // A payload cut inside a field (the CRC is of the cut payload, so only the field checks see it).
  overwrite(p, wrap_payload(ebm::serialize_checkpoint(sample()).substr(24, 40), ebm::kCheckpointVersion));
  expect_error(p, "ends in field 'model_options'");
  // Version 1, cut in its activation.
  overwrite(p, wrap_payload(payload_prefix(3, {4, 3, 2}, "tanh").substr(0, 40)));
  expect_error(p, "ends in field 'activation'");
}

// A checkpoint of version 1 (sizes and activation of a layered Hopfield network) still reads,
// as a layered_hopfield with the blocks that layout implies.
TEST_F(CheckpointFile, VersionOneReadsAsLayeredHopfield) {
  std::string payload = payload_prefix(3, {4, 3, 2}, "tanh");
  ebm::ByteWriter w;
  w.put_vector(ebm::Vector<float>(ebm::Vector<float>::LinSpaced(4 * 3 + 3 * 2 + 3 + 2, -1, 1)));
  w.put_string("");
  w.put<std::int64_t>(2);
  w.put<std::int64_t>(9);
  w.put<std::uint64_t>(5);
  w.put_string("[data]\nseed = 5\n");
  const fs::path p = dir_ / "v1.bin";
  overwrite(p, wrap_payload(payload + w.bytes()));
  const auto r = ebm::read_checkpoint<float>(p);
  EXPECT_EQ(r.model_kind, "layered_hopfield");
  EXPECT_NE(r.model_options.find("sizes = [4, 3, 2]"), std::string::npos) << r.model_options;
  EXPECT_NE(r.model_options.find("activation = \"tanh\""), std::string::npos) << r.model_options;
  EXPECT_EQ(ebm::describe_blocks(r.blocks), "W1 3x4, W2 2x3, b1 3, b2 2");
  EXPECT_EQ(r.blocks[2].offset, 18);
  EXPECT_EQ(r.params.size(), 23);
  EXPECT_EQ(r.epoch, 2);
  EXPECT_EQ(r.step, 9);
}

TEST_F(CheckpointFile, NotACheckpointAtAll) {
  expect_error(dir_, "is a directory, not a checkpoint");
  const fs::path p = dir_ / "train-labels-idx1-ubyte";
  overwrite(p, std::string("\0\0\x08\x01\0\0\0\x1e", 8) + std::string(30, '\x03'));  // an IDX file
  expect_error(p, "bad magic number");
  // The right magic and a payload size beyond the file: refused from the header, nothing more read.
  std::string header = ebm::serialize_checkpoint(sample()).substr(0, 24);
  std::memset(header.data() + 12, 0x7f, 8);
  overwrite(p, header);
  expect_error(p, "field 'payload size' says 9187201950435737471 bytes but the file holds 0");
}

TEST_F(CheckpointFile, OptimizerStateOfAnotherKindIsRefusedOnLoad) {
  const auto c = sample();  // Adam state
  ebm::OptimizerOptions o;  // SGD
  ebm::Optimizer<float> sgd(o, {{"w", 0, c.params.size(), 1}}, c.params.size());
  ebm::ByteReader state(c.optimizer_state, "ckpt.bin");
  try {
    sgd.load(state);
    FAIL();
  } catch (const ebm::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt.bin: optimizer state is for adam but the run uses sgd"),
              std::string::npos)
        << e.what();
  }
  // Adam of another size: the moment vectors do not fit.
  o.method = ebm::OptimizerMethod::adam;
  ebm::Optimizer<float> small(o, {{"w", 0, 5, 1}}, 5);
  ebm::ByteReader again(c.optimizer_state, "ckpt.bin");
  EXPECT_THROW(small.load(again), ebm::DataError);
}

}  // namespace
