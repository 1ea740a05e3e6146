// require() with a lazy part: the part is computed only when the check fails, and then it is in
// the message.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace {

TEST(Require, LazyPartIsComputedOnlyWhenTheCheckFails) {
  int calls = 0;
  auto part = ebm::lazy([&] {
    ++calls;
    return std::string("784-512-10");
  });
  ebm::require<ebm::DimensionMismatch>(true, "network ", part);
  EXPECT_EQ(calls, 0);
  try {
    ebm::require<ebm::DimensionMismatch>(false, "network ", part, " has 3 units");
    FAIL() << "require(false, ...) did not throw";
  } catch (const ebm::DimensionMismatch& e) {
    EXPECT_EQ(std::string(e.what()), "network 784-512-10 has 3 units");
  }
  EXPECT_EQ(calls, 1);
}

}  // namespace
