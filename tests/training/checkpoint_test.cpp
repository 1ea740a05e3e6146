// Checkpoints: round trip, every corruption caught by name, and an interrupted write (a child
// process killed mid-write by a file-size limit) that leaves the previous checkpoint readable.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

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
    c.sizes = {4, hidden, 2};
    c.activation = ebm::Activation::Kind::tanh;
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
  EXPECT_EQ(r.sizes, c.sizes);
  EXPECT_EQ(r.activation, c.activation);
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
  expect_error(dir_ / "missing.bin", "no such file");
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
  EXPECT_EQ(ebm::read_checkpoint<float>(p).sizes[1], 5);
}

}  // namespace
