// FlushDenormals: inside its scope subnormal inputs read as zero and subnormal results become
// zero; the previous mode comes back when it ends.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/denormals.hpp"

namespace {

// volatile: computed at run time, under the current floating-point mode.
float times_one(float x) {
  volatile float v = x;
  return v * 1.0f;
}
float product(float a, float b) {
  volatile float v = a;
  return v * b;
}

#if defined(__SSE__) || defined(_M_X64)
TEST(FlushDenormals, FlushesSubnormalsInItsScopeOnly) {
  const float tiny = std::numeric_limits<float>::denorm_min() * 1000;
  ASSERT_EQ(std::fpclassify(tiny), FP_SUBNORMAL);
  EXPECT_EQ(times_one(tiny), tiny);                             // the default mode keeps it
  EXPECT_EQ(std::fpclassify(product(1e-30f, 1e-10f)), FP_SUBNORMAL);
  {
    const ebm::FlushDenormals flush;
    EXPECT_EQ(times_one(tiny), 0.0f);                           // a subnormal input reads as zero
    EXPECT_EQ(product(1e-30f, 1e-10f), 0.0f);                   // a subnormal result becomes zero
    EXPECT_EQ(product(1e-30f, 1e-5f), 1e-30f * 1e-5f);          // normal numbers are untouched
  }
  EXPECT_EQ(times_one(tiny), tiny);                             // restored
  EXPECT_EQ(std::fpclassify(product(1e-30f, 1e-10f)), FP_SUBNORMAL);
}
#endif

}  // namespace
