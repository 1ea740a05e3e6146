// Optimizers against updates computed by hand, per-layer rates, validation and state round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/denormals.hpp"
#include "training/optimizer.hpp"

namespace {

using ebm::OptimizerMethod;
using ebm::OptimizerOptions;
using V = ebm::Vector<double>;

const std::vector<ebm::ParamBlock> kBlocks = {{"W1", 0, 2, 1}, {"W2", 2, 1, 1}, {"b1", 3, 1, 1}, {"b2", 4, 1, 1}};

V vec(std::initializer_list<double> v) {
  V out(ebm::Index(v.size()));
  ebm::Index i = 0;
  for (double x : v) out(i++) = x;
  return out;
}

TEST(Optimizer, PlainSgdWithPerLayerRates) {
  OptimizerOptions o;
  o.learning_rate = 0.1;
  o.learning_rates = {0.1, 0.01};  // layer 1: W1 and b1; layer 2: W2 and b2
  ebm::Optimizer<double> opt(o, kBlocks, 5);
  V p = vec({1, 2, 3, 4, 5});
  opt.step(p, vec({1, 1, 1, 1, 1}));
  const V expected = vec({0.9, 1.9, 2.99, 3.9, 4.99});
  EXPECT_LT((p - expected).cwiseAbs().maxCoeff(), 1e-15);
  o.learning_rates = {1, 2, 3, 4};  // per block
  ebm::Optimizer<double> per_block(o, kBlocks, 5);
  EXPECT_EQ(per_block.rates(), vec({1, 1, 2, 3, 4}));
  o.learning_rates = {1, 2, 3};
  try {
    ebm::Optimizer<double>(o, kBlocks, 5);
    FAIL();
  } catch (const ebm::InvalidOptions& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.learning_rates has 3 entries"), std::string::npos) << e.what();
  }
}

TEST(Optimizer, MomentumAccumulatesVelocity) {
  OptimizerOptions o;
  o.learning_rate = 0.5;
  o.momentum = 0.9;
  ebm::Optimizer<double> opt(o, {{"w", 0, 1, 1}}, 1);
  V p = vec({0});
  opt.step(p, vec({1}));  // v = 1,   p = −0.5
  opt.step(p, vec({2}));  // v = 2.9, p = −0.5 − 1.45
  EXPECT_DOUBLE_EQ(p(0), -1.95);
}

TEST(Optimizer, AdamMatchesHandComputation) {
  OptimizerOptions o;
  o.method = OptimizerMethod::adam;
  o.learning_rate = 0.01;
  ebm::Optimizer<double> opt(o, {{"w", 0, 2, 1}}, 2);
  V p = vec({1, -1});
  // Step 1: m̂ = g and v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g).
  opt.step(p, vec({0.5, -2}));
  EXPECT_NEAR(p(0), 1 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(p(1), -1 + 0.01 * 2 / (2 + 1e-8), 1e-15);
  // Step 2 with g = 1 on the first entry: m = 0.1·1 + 0.9·0.05... computed in full.
  const double m = 0.9 * (0.1 * 0.5) + 0.1 * 1.0, v = 0.999 * (0.001 * 0.25) + 0.001 * 1.0;
  const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
  const double before = p(0);
  opt.step(p, vec({1.0, 0.0}));
  EXPECT_NEAR(p(0), before - 0.01 * mh / (std::sqrt(vh) + 1e-8), 1e-14);
}

TEST(Optimizer, StateRoundTripContinuesExactly) {
  OptimizerOptions o;
  o.method = OptimizerMethod::adam;
  ebm::Optimizer<float> a(o, {{"w", 0, 3, 1}}, 3), b(o, {{"w", 0, 3, 1}}, 3);
  ebm::Vector<float> pa = ebm::Vector<float>::Ones(3), g(3);
  g << 0.3f, -0.1f, 2.0f;
  a.step(pa, g);
  ebm::ByteWriter w;
  a.save(w);
  ebm::ByteReader r(w.bytes(), "mem");
  b.load(r);
  ebm::Vector<float> pb = pa;
  a.step(pa, g);
  b.step(pb, g);
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(b.steps(), 2);
  // A state for another optimizer is refused with the field named.
  OptimizerOptions s;
  ebm::Optimizer<float> sgd(s, {{"w", 0, 3, 1}}, 3);
  ebm::ByteReader again(w.bytes(), "ckpt.bin");
  EXPECT_THROW(sgd.load(again), ebm::DataError);
}

// Adam's bias corrections m/c₁ and v/c₂ turn into divisions by exactly 1 once βᵗ ≤ 2⁻²⁵, and the
// optimizer then leaves them out. Against Adam as written, every division made, evaluated by the
// same Eigen expression over the same packets (sizes a multiple of the optimizer's 512-entry
// blocks), the parameters must keep every bit through all four cases: both corrections, c₁ = 1
// only (β₁ = 0.9: step 165 on), and both 1 (β₂ = 0.5: step 25 on; β₂ = 0.999 takes 17 321 steps).
TEST(Optimizer, AdamLeavesOutOnlyDivisionsByOne) {
  for (const double beta2 : {0.999, 0.5}) {
    OptimizerOptions o;
    o.method = OptimizerMethod::adam;
    o.learning_rate = 1e-3;
    o.beta2 = beta2;
    const ebm::Index n = 1024;
    ebm::Optimizer<float> opt(o, {{"w", 0, n, 1}}, n);
    using A = ebm::Vector<float>;
    A p = A::LinSpaced(n, -1, 1), m = A::Zero(n), v = A::Zero(n);
    A expected = p;
    bool saw_c1_one = false, saw_both_one = false;
    for (int step = 1; step <= 200; ++step) {
      const A g = A::LinSpaced(n, 0.3f, -0.7f) * std::cos(float(step)) + A::Constant(n, 1e-3f * float(step % 7));
      opt.step(p, g);
      const float b1 = float(o.beta1), b2 = float(o.beta2);
      const float c1 = float(1.0 - std::pow(o.beta1, step)), c2 = float(1.0 - std::pow(o.beta2, step));
      saw_c1_one = saw_c1_one || c1 == 1.0f;
      saw_both_one = saw_both_one || (c1 == 1.0f && c2 == 1.0f);
      const ebm::FlushDenormals flush;  // as the optimizer steps
      m = b1 * m + (1.0f - b1) * g;
      v = b2 * v + (1.0f - b2) * g.cwiseAbs2();
      expected.array() -= float(o.learning_rate) * (m.array() / c1) / ((v.array() / c2).sqrt() + float(o.epsilon));
      ASSERT_EQ(p, expected) << "β₂ " << beta2 << ", step " << step << ", c₁ " << c1 << ", c₂ " << c2;
    }
    EXPECT_TRUE(saw_c1_one);
    EXPECT_EQ(saw_both_one, beta2 == 0.5);
  }
}

// Polyak averaging: ā starts at the first step's weights, then ā ← d_t·ā + (1 − d_t)·θ with
// d_t = min(d, (1 + t)/(10 + t)), and the update applied in pieces (the trainer's tiles) keeps the
// same average as one step().
TEST(Optimizer, MovingAverageOfTheWeights) {
  OptimizerOptions o;
  o.learning_rate = 0.5;
  o.average_decay = 0.75;
  ebm::Optimizer<double> opt(o, {{"w", 0, 2, 1}}, 2), pieces(o, {{"w", 0, 2, 1}}, 2);
  ASSERT_TRUE(opt.averaging());
  V p = vec({1, -1}), q = p;
  opt.step(p, vec({1, 2}));  // θ = (0.5, −2), ā = θ
  EXPECT_EQ(opt.average(), vec({0.5, -2}));
  opt.step(p, vec({1, 2}));  // θ = (0, −3), d_2 = min(0.75, 3/12): ā = 0.25·(0.5, −2) + 0.75·(0, −3)
  EXPECT_LT((opt.average() - vec({0.125, -2.75})).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_EQ(p, vec({0, -3}));  // the iterate itself is the plain SGD one
  // Past the warm-up (t ≥ 27) the decay is d itself: follow 40 steps by hand.
  V a = opt.average();
  for (long t = 3; t <= 40; ++t) {
    opt.step(p, vec({1, 2}));
    const double d = std::min(0.75, (1.0 + double(t)) / (10.0 + double(t)));
    a = d * a + (1 - d) * p;
  }
  EXPECT_LT((opt.average() - a).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_DOUBLE_EQ(opt.average_decay_now(), 0.75);
  for (int s = 0; s < 40; ++s) {
    const V g = vec({1, 2});
    pieces.begin_step();
    pieces.update(q.data(), g.data() + 1, 1, 1);
    pieces.update(q.data(), g.data(), 0, 1);
  }
  EXPECT_EQ(pieces.average(), opt.average());
  o.average_decay = 1.0;  // a decay of 1 would never move: refused, naming the field
  std::string why;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("optimizer.average_decay"), std::string::npos) << why;
}

// Decoupled weight decay: θ ← θ − η·λ·θ − (the method's step), the decay taken at the parameters
// the gradient was computed at. With a zero gradient Adam's step is 0, so only the decay acts:
// θ_n = (1 − ηλ)^n θ_0 under the schedule's factor.
TEST(Optimizer, DecoupledWeightDecay) {
  OptimizerOptions o;
  o.learning_rate = 0.5;
  o.weight_decay = 0.1;
  ebm::Optimizer<double> sgd(o, {{"w", 0, 2, 1}}, 2);
  V p = vec({2, -4});
  sgd.step(p, vec({1, 2}));  // (2, −4) − 0.05·(2, −4) − 0.5·(1, 2)
  EXPECT_LT((p - vec({1.4, -4.8})).cwiseAbs().maxCoeff(), 1e-15);
  o.method = ebm::OptimizerMethod::adam;
  ebm::Optimizer<double> adam(o, {{"w", 0, 2, 1}}, 2);
  adam.set_rate_factor(0.5);
  V q = vec({2, -4});
  for (int n = 0; n < 10; ++n) adam.step(q, vec({0, 0}));
  EXPECT_LT((q - std::pow(1 - 0.25 * 0.1, 10) * vec({2, -4})).cwiseAbs().maxCoeff(), 1e-14);
  o.weight_decay = -1;
  std::string why;
  EXPECT_FALSE(o.is_valid(&why));
  EXPECT_NE(why.find("optimizer.weight_decay"), std::string::npos) << why;
}

TEST(Optimizer, ValidationNamesTheField) {
  auto why = [](OptimizerOptions o) {
    std::string w;
    EXPECT_FALSE(o.is_valid(&w));
    return w;
  };
  OptimizerOptions o;
  o.learning_rate = 0;
  EXPECT_NE(why(o).find("optimizer.learning_rate"), std::string::npos);
  o = {};
  o.momentum = 1;
  EXPECT_NE(why(o).find("optimizer.momentum"), std::string::npos);
  o = {};
  o.method = OptimizerMethod::adam;
  o.beta2 = 1.5;
  EXPECT_NE(why(o).find("optimizer.beta2"), std::string::npos);
  o = {};
  o.learning_rates = {0.1, -1};
  EXPECT_NE(why(o).find("optimizer.learning_rates[1]"), std::string::npos);
  EXPECT_THROW(ebm::parse_optimizer_method("rmsprop"), ebm::InvalidOptions);
}

// update() takes the rates as runs of one rate each and works in blocks: pieces that straddle both
// a rate boundary and a block boundary must give the bits of one whole step, and report the
// largest |θ| (NaN when a parameter is NaN). The pieces start at multiples of 16 entries, a whole
// number of SIMD packets (8 floats with AVX2, 16 with AVX-512), as the trainer's tiles do for the
// 784-512-10 network (not for every size: then the tiled update differs from step() in the last
// bits, the same for any number of threads). Eigen's vectorised sqrt is not correctly rounded, so
// an entry's bits depend on whether it falls in a piece's vectorised middle or its scalar ends.
TEST(Optimizer, PiecesAcrossRateRunsMatchTheWholeStep) {
  OptimizerOptions o;
  o.method = OptimizerMethod::adam;
  o.learning_rates = {0.01, 0.003};
  o.average_decay = 0.9;
  const std::vector<ebm::ParamBlock> blocks = {{"W1", 0, 700, 1}, {"W2", 700, 600, 1}, {"b1", 1300, 1, 1}, {"b2", 1301, 1, 1}};
  const ebm::Index n = 1302;
  ebm::Optimizer<float> whole(o, blocks, n), pieces(o, blocks, n);
  ebm::Vector<float> p = ebm::Vector<float>::LinSpaced(n, -1, 1), q = p;
  for (int step = 0; step < 3; ++step) {
    const ebm::Vector<float> g = ebm::Vector<float>::LinSpaced(n, 0.5f + float(step), -2);
    const float largest_whole = whole.step(p, g);
    pieces.begin_step();
    float largest = 0;
    for (ebm::Index begin : {0, 640, 1296}) {  // [0, 640), [640, 1296) across W1|W2, [1296, 1302) across W2|b1|b2
      const ebm::Index end = begin == 0 ? 640 : begin == 640 ? 1296 : n;
      largest = std::max(largest, pieces.update(q.data(), g.data() + begin, begin, end - begin));
    }
    EXPECT_EQ(p, q) << "step " << step;
    EXPECT_EQ(pieces.average(), whole.average()) << "step " << step;
    EXPECT_EQ(largest_whole, p.cwiseAbs().maxCoeff());
    EXPECT_EQ(largest, largest_whole);
  }
  ebm::Vector<float> g = ebm::Vector<float>::Zero(n);
  g(1000) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(whole.step(p, g)));  // in the middle of a piece
}

}  // namespace
