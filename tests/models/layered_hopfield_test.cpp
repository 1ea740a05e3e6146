#include "models/layered_hopfield.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "test_util.hpp"

namespace ebm {
namespace {

static_assert(check_energy_model<LayeredHopfield<double>>());
static_assert(check_energy_model<LayeredHopfield<float>>());

struct Case {
  std::vector<Index> sizes;
  Activation::Kind rho;
};

class LayeredHopfieldGradients : public ::testing::TestWithParam<Case> {};

// States for the hard sigmoid stay away from its kinks at 0 and 1, where it has no derivative.
Eigen::MatrixXd random_state(const LayeredHopfield<double>& net, Index batch, std::uint64_t seed) {
  Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), batch, -1.5, 1.5, seed, 1);
  if (net.activation().kind() == Activation::Kind::hard_sigmoid)
    for (Index i = 0; i < s.size(); ++i)
      for (double kink : {0.0, 1.0})
        if (std::abs(s.data()[i] - kink) < 1e-3) s.data()[i] += 0.01;
  return s;
}

TEST_P(LayeredHopfieldGradients, StateGradientMatchesFiniteDifferences) {
  const Case& c = GetParam();
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    LayeredHopfield<double> net(c.sizes, c.rho);
    net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 4, 0, 1, seed, 2);
    const Eigen::MatrixXd s = random_state(net, 4, seed);
    Eigen::MatrixXd g(s.rows(), s.cols());
    net.state_gradient(s, x, g);
    const Eigen::MatrixXd fd =
        test::central_difference([&](const Eigen::MatrixXd& v) { return net.energy(v, x).sum(); }, s);
    EXPECT_LE(test::relative_error(g, fd), 1e-6) << "seed " << seed;
  }
}

TEST_P(LayeredHopfieldGradients, ParamGradientMatchesFiniteDifferences) {
  const Case& c = GetParam();
  for (std::uint64_t seed : {4u, 5u}) {
    LayeredHopfield<double> net(c.sizes, c.rho);
    net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, seed);
    const Eigen::MatrixXd x = test::uniform_matrix(net.input_size(), 3, 0, 1, seed, 2);
    const Eigen::MatrixXd s = random_state(net, 3, seed);
    Eigen::VectorXd g(net.params().size());
    net.param_gradient(s, x, g);
    const Eigen::VectorXd theta = net.params();
    const Eigen::MatrixXd fd = test::central_difference(
        [&](const Eigen::MatrixXd& p) {
          net.params() = p;
          return net.energy(s, x).sum();
        },
        theta);
    net.params() = theta;
    EXPECT_LE(test::relative_error(g, fd), 1e-6) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(
    LayersAndActivations, LayeredHopfieldGradients,
    ::testing::Values(Case{{3, 2}, Activation::Kind::tanh}, Case{{3, 5, 4, 2}, Activation::Kind::tanh},
                      Case{{3, 5, 4, 2}, Activation::Kind::logistic},
                      Case{{3, 5, 4, 2}, Activation::Kind::hard_sigmoid},
                      Case{{4, 6, 2}, Activation::Kind::logistic},
                      Case{{2, 3, 4, 5, 3}, Activation::Kind::tanh},
                      Case{{2, 3, 4, 5, 3}, Activation::Kind::hard_sigmoid}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name;
      for (Index n : info.param.sizes) name += std::to_string(n) + "_";
      return name + std::string(Activation(info.param.rho).name());
    });

TEST(LayeredHopfield, EnergyIsPerExample) {
  LayeredHopfield<double> net({3, 4, 2}, Activation::Kind::tanh);
  net.init_glorot(7);
  const Eigen::MatrixXd x = test::uniform_matrix(3, 5, 0, 1, 1);
  const Eigen::MatrixXd s = test::uniform_matrix(6, 5, -1, 1, 2);
  const RowVector<double> e = net.energy(s, x);
  for (Index j = 0; j < 5; ++j) EXPECT_DOUBLE_EQ(e(j), net.energy(s.col(j), x.col(j))(0));
}

TEST(LayeredHopfield, EnergyMatchesTheFormulaOnATinyNetwork) {
  // 1-1-1 network with tanh: E = ½(h² + y²) − w1 ρ(h) x − w2 ρ(y) ρ(h) − b1 ρ(h) − b2 ρ(y).
  LayeredHopfield<double> net({1, 1, 1}, Activation::Kind::tanh);
  net.weight(1)(0, 0) = 0.7;
  net.weight(2)(0, 0) = -1.3;
  net.bias(1)(0) = 0.2;
  net.bias(2)(0) = -0.4;
  Eigen::MatrixXd x(1, 1), s(2, 1);
  x << 0.9;
  s << 0.3, -0.6;
  const double h = 0.3, y = -0.6;
  const double expected = 0.5 * (h * h + y * y) - 0.7 * std::tanh(h) * 0.9 + 1.3 * std::tanh(y) * std::tanh(h) -
                          0.2 * std::tanh(h) + 0.4 * std::tanh(y);
  EXPECT_NEAR(net.energy(s, x)(0), expected, 1e-15);
}

TEST(LayeredHopfield, ParameterLayoutNamesEveryBlock) {
  LayeredHopfield<double> net({4, 3, 2});
  ASSERT_EQ(net.param_blocks().size(), 4u);
  EXPECT_EQ(net.param_blocks()[0].name, "W1");
  EXPECT_EQ(net.param_blocks()[1].name, "W2");
  EXPECT_EQ(net.param_blocks()[2].name, "b1");
  EXPECT_EQ(net.params().size(), 4 * 3 + 3 * 2 + 3 + 2);
  EXPECT_EQ(net.output_block(), (Block{3, 2}));
  net.weight(2)(1, 2) = 5.0;
  EXPECT_EQ(net.params()(net.param_blocks()[1].offset + 2 * 2 + 1), 5.0);
}

TEST(LayeredHopfield, FloatAgreesWithDouble) {
  LayeredHopfield<double> net({5, 7, 3}, Activation::Kind::logistic);
  net.init_glorot(3);
  LayeredHopfield<float> netf({5, 7, 3}, Activation::Kind::logistic);
  netf.params() = net.params().cast<float>();
  const Eigen::MatrixXd x = test::uniform_matrix(5, 4, 0, 1, 1);
  const Eigen::MatrixXd s = test::uniform_matrix(10, 4, -1, 1, 2);
  Eigen::MatrixXd g(10, 4);
  Eigen::MatrixXf gf(10, 4);
  net.state_gradient(s, x, g);
  netf.state_gradient(s.cast<float>(), x.cast<float>(), gf);
  EXPECT_LE(test::relative_error(gf.cast<double>(), g), 1e-5);
}

TEST(LayeredHopfield, RejectsMismatchedShapesWithAClearMessage) {
  LayeredHopfield<double> net({3, 4, 2});
  Eigen::MatrixXd x(3, 2), s(5, 2), g(6, 2);
  x.setZero();
  s.setZero();
  try {
    net.state_gradient(s, x, g);
    FAIL() << "expected DimensionMismatch";
  } catch (const DimensionMismatch& e) {
    EXPECT_NE(std::string(e.what()).find("state has 5 rows"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3-4-2"), std::string::npos) << e.what();
  }
  Eigen::MatrixXd s6 = Eigen::MatrixXd::Zero(6, 2), x4 = Eigen::MatrixXd::Zero(4, 2);
  EXPECT_THROW(net.energy(s6, x4), DimensionMismatch);
  EXPECT_THROW(LayeredHopfield<double>({3}), InvalidOptions);
  EXPECT_THROW(LayeredHopfield<double>({3, 0, 2}), InvalidOptions);
}

TEST(LayeredHopfield, HardSigmoidProjectionClipsToTheUnitBox) {
  LayeredHopfield<double> net({2, 2, 1}, Activation::Kind::hard_sigmoid);
  Eigen::MatrixXd s(3, 1);
  s << -0.5, 0.4, 1.7;
  net.project(s);
  EXPECT_EQ(s(0), 0.0);
  EXPECT_EQ(s(1), 0.4);
  EXPECT_EQ(s(2), 1.0);
  LayeredHopfield<double> smooth({2, 2, 1}, Activation::Kind::tanh);
  s << -0.5, 0.4, 1.7;
  smooth.project(s);
  EXPECT_EQ(s(0), -0.5);
}

}  // namespace
}  // namespace ebm

namespace ebm {
namespace {

static_assert(HasSecondOrder<LayeredHopfield<double>>);

TEST(LayeredHopfieldSecondOrder, HessianVectorMatchesFiniteDifferencesOfTheGradient) {
  for (auto rho : {Activation::Kind::tanh, Activation::Kind::logistic}) {
    LayeredHopfield<double> net({3, 5, 4, 2}, rho);
    net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, 11);
    const Eigen::MatrixXd x = test::uniform_matrix(3, 3, 0, 1, 12);
    const Eigen::MatrixXd s = test::uniform_matrix(11, 3, -1, 1, 13);
    const Eigen::MatrixXd v = test::uniform_matrix(11, 3, -1, 1, 14);
    Eigen::MatrixXd hv(11, 3), gp(11, 3), gm(11, 3);
    net.hessian_vector(s, x, v, hv);
    const double h = 1e-6;
    net.state_gradient(s + h * v, x, gp);
    net.state_gradient(s - h * v, x, gm);
    EXPECT_LE(test::relative_error(hv, (gp - gm) / (2 * h)), 1e-7);
  }
}

TEST(LayeredHopfieldSecondOrder, MixedVectorMatchesFiniteDifferencesOfTheParamGradient) {
  LayeredHopfield<double> net({3, 5, 4, 2}, Activation::Kind::tanh);
  net.params() = test::uniform_matrix(net.params().size(), 1, -1, 1, 21);
  const Eigen::MatrixXd x = test::uniform_matrix(3, 3, 0, 1, 22);
  const Eigen::MatrixXd s = test::uniform_matrix(11, 3, -1, 1, 23);
  const Eigen::MatrixXd v = test::uniform_matrix(11, 3, -1, 1, 24);
  Eigen::VectorXd mv(net.params().size()), gp(net.params().size()), gm(net.params().size());
  net.mixed_vector(s, x, v, mv);
  const double h = 1e-6;
  net.param_gradient(s + h * v, x, gp);
  net.param_gradient(s - h * v, x, gm);
  EXPECT_LE(test::relative_error(mv, (gp - gm) / (2 * h)), 1e-7);
}


}  // namespace
}  // namespace ebm

namespace ebm {
namespace {

TEST(LayeredHopfieldDifference, EqualsTheDifferenceOfParameterGradients) {
  LayeredHopfield<double> net({4, 6, 5, 3}, Activation::Kind::logistic);
  net.init_glorot(3, 1.0);
  net.params() += test::uniform_matrix(net.params().size(), 1, -0.1, 0.1, 4);
  const Eigen::MatrixXd x = test::uniform_matrix(4, 7, 0, 1, 5), a = test::uniform_matrix(14, 7, -1, 1, 6),
                        b = test::uniform_matrix(14, 7, -1, 1, 7);
  Eigen::VectorXd ga(net.params().size()), gb(net.params().size()), diff(net.params().size());
  net.param_gradient(a, x, ga);
  net.param_gradient(b, x, gb);
  net.param_gradient_difference(a, b, x, diff);
  EXPECT_LT(test::relative_error(diff, (ga - gb).eval()), 1e-13);
}

TEST(LayeredHopfieldDriven, GradientAndEnergyFromTheCachedDriveMatchTheDirectOnes) {
  LayeredHopfield<float> net({5, 4, 3}, Activation::Kind::tanh);
  net.init_glorot(2, 1.5f);
  const Eigen::MatrixXf x = test::uniform_matrix(5, 6, 0, 1, 1).cast<float>(),
                        s = test::uniform_matrix(7, 6, -1, 1, 2).cast<float>();
  Eigen::MatrixXf drive(4, 6), g_direct(7, 6), g_driven(7, 6);
  net.input_drive(x, drive);
  LayeredHopfield<float>::Workspace ws;
  net.state_gradient(s, x, g_direct);
  net.state_gradient_driven(s, drive, g_driven, ws);
  EXPECT_LT((g_direct - g_driven).cwiseAbs().maxCoeff(), 1e-6f);
  EXPECT_LT((net.energy(s, x) - net.energy_driven(s, drive, ws)).cwiseAbs().maxCoeff(), 1e-5f);
}

// The drive in row pieces (a trainer's minibatch drive, HasPartialInputDrive) is the drive: every
// split, including pieces of one row and a piece that is all the rows.
TEST(LayeredHopfieldDriven, DriveInRowPiecesIsTheDrive) {
  static_assert(HasPartialInputDrive<LayeredHopfield<double>>);
  LayeredHopfield<double> net({9, 13, 4});
  net.init_fan_in_uniform(5);
  const Eigen::MatrixXd x = test::uniform_matrix(9, 7, 0, 1, 6);
  Eigen::MatrixXd whole(13, 7);
  net.input_drive(x, whole);
  for (const Index piece : {1, 4, 5, 13}) {
    Eigen::MatrixXd pieces(13, 7);
    for (Index first = 0; first < 13; first += piece) {
      const Index rows = std::min(piece, 13 - first);
      net.input_drive_part(x, first, rows, pieces.middleRows(first, rows));
    }
    EXPECT_LT((pieces - whole).cwiseAbs().maxCoeff(), 1e-14) << piece;
  }
  Eigen::MatrixXd wrong(3, 7);
  EXPECT_THROW(net.input_drive_part(x, 12, 3, wrong), DimensionMismatch);
}

// The drive in stages along the input (a trainer's pipeline, HasPipelinedInputDrive) is the drive
// in row pieces bit for bit: each entry's chain continued from stage to stage, the bias added once
// the last input unit is in. Stages at W₁'s tile boundaries name the columns of their tiles.
TEST(LayeredHopfieldDriven, DriveInStagesAlongTheInputIsTheDrivesBits) {
  static_assert(HasPipelinedInputDrive<LayeredHopfield<float>>);
  LayeredHopfield<float> net({100, 70, 4});
  net.init_fan_in_uniform(5);
  net.params().tail(74).setRandom();  // biases, so that adding them once and only once shows
  const Matrix<float> x = test::uniform_matrix(100, 9, 0, 1, 6).cast<float>();
  Matrix<float> rows(70, 9);
  net.input_drive_part(x, 0, 70, rows);
  for (const std::vector<Index>& cuts : {std::vector<Index>{0, 100}, {0, 50, 100}, {0, 1, 33, 33, 99, 100}}) {
    Matrix<float> staged = Matrix<float>::Constant(70, 9, 7.0f);  // stage 0 must not read it
    for (Index first : {0, 16, 64})
      for (std::size_t s = 0; s + 1 < cuts.size(); ++s) {
        const Index count = first == 0 ? 16 : first == 16 ? 48 : 6;
        net.input_drive_stage(x, first, count, cuts[s], cuts[s + 1] - cuts[s], staged.middleRows(first, count));
      }
    EXPECT_EQ(std::memcmp(rows.data(), staged.data(), sizeof(float) * 70 * 9), 0) << cuts.size() - 1 << " stages";
  }
  Matrix<float> wrong(3, 9);
  EXPECT_THROW(net.input_drive_stage(x, 0, 3, 90, 20, wrong), DimensionMismatch);
  // 70 rows: W₁ in tiles of 468 columns (32 768 entries), here one tile of all 100 inputs.
  Index covered = 0;
  for (Index i = 0; i < net.param_tile_count(); ++i) covered += net.param_tile_input_columns(i).size;
  EXPECT_EQ(covered, 100);
}

// The Hebbian rates filled chunk by chunk (a trainer's, HasPartialHebbianRates) are the rates of the
// whole batch, bit for bit: every chunking, including chunks of one column, for a deep network.
TEST(LayeredHopfieldTiled, HebbianRatesInColumnChunksAreTheRates) {
  static_assert(HasPartialHebbianRates<LayeredHopfield<float>>);
  LayeredHopfield<float> net({6, 11, 7, 3});
  net.init_glorot(2);
  const Matrix<float> x = test::uniform_matrix(6, 9, 0, 1, 3).cast<float>();
  const Matrix<float> s_a = test::uniform_matrix(net.state_size(), 9, -0.5, 1.5, 4).cast<float>();
  const Matrix<float> s_b = test::uniform_matrix(net.state_size(), 9, -0.5, 1.5, 5).cast<float>();
  LayeredHopfield<float>::HebbianRates whole, chunked;
  net.hebbian_rates(s_a, s_b, x, whole);
  for (const Index chunk : {1, 2, 4, 9}) {
    net.resize_hebbian_rates(9, chunked);
    for (Index first = 0; first < 9; first += chunk) {
      const Index n = std::min(chunk, 9 - first);
      net.hebbian_rates_part(s_a.middleCols(first, n), s_b.middleCols(first, n), first, chunked);
    }
    EXPECT_TRUE(chunked.a == whole.a && chunked.b == whole.b && chunked.delta1 == whole.delta1) << chunk;
  }
  EXPECT_THROW(net.hebbian_rates_part(s_a.middleCols(0, 3), s_b.middleCols(0, 3), 7, chunked), DimensionMismatch);
}

// Narrow layers (≤ kNarrow units) take the small-product kernels once the workspace is prepared;
// without prepare() the same evaluation runs on Eigen's products. Both must agree to rounding, at
// sizes with every kernel tail, for every activation; a layer just above kNarrow stays on Eigen.
TEST(LayeredHopfieldDriven, NarrowLayerKernelsMatchEigensProducts) {
  const std::vector<std::vector<Index>> shapes = {{12, 9, 5}, {20, 30, 7, 3}, {6, 40, 16, 17}, {3, 1, 1}};
  for (const auto& sizes : shapes)
    for (auto kind : {Activation::Kind::hard_sigmoid, Activation::Kind::logistic, Activation::Kind::tanh}) {
      LayeredHopfield<double> net(sizes, kind);
      net.init_glorot(3, 1.5);
      net.params().tail(net.state_size()).setRandom();  // non-zero biases
      const Index batch = 11;
      const Eigen::MatrixXd x = test::uniform_matrix(sizes[0], batch, 0, 1, 4);
      const Eigen::MatrixXd s = test::uniform_matrix(net.state_size(), batch, -0.5, 1.5, 5);
      Eigen::MatrixXd drive(sizes[1], batch), fast(net.state_size(), batch), plain(net.state_size(), batch);
      net.input_drive(x, drive);
      LayeredHopfield<double>::Workspace prepared, unprepared;
      net.prepare(prepared);
      net.state_gradient_driven(s, drive, fast, prepared);
      net.state_gradient_driven(s, drive, plain, unprepared);
      EXPECT_LT((fast - plain).cwiseAbs().maxCoeff(), 1e-12) << sizes.size() << " layers, " << Activation(kind).name();
      EXPECT_GT(plain.cwiseAbs().maxCoeff(), 0.1);
      // The energy too (a relaxation's final energy takes the narrow kernel), and both are E.
      const RowVector<double> e_fast = net.energy_driven(s, drive, prepared), e_plain = net.energy_driven(s, drive, unprepared);
      EXPECT_LT((e_fast - e_plain).cwiseAbs().maxCoeff(), 1e-12) << sizes.size() << " layers, " << Activation(kind).name();
      EXPECT_LT((e_plain - net.energy(s, x)).cwiseAbs().maxCoeff(), 1e-12);
    }
}

// hebbian_bound bounds every entry of the Hebbian difference, for inputs within ±1 (where the
// bound's m is 1) and far beyond (where it grows as their square), and is
// infinite when a rate or an input is not finite, so that a trainer checks the tiles first.
TEST(LayeredHopfieldTiled, HebbianBoundBoundsEveryEntryOfTheDifference) {
  static_assert(HasHebbianBound<LayeredHopfield<double>>);
  LayeredHopfield<double> net({6, 11, 7, 3}, Activation::Kind::tanh);
  net.init_glorot(2);
  for (const double spread : {0.5, 1.0, 30.0}) {
    const Eigen::MatrixXd x = test::uniform_matrix(6, 9, -spread, spread, 3);
    const Eigen::MatrixXd s_a = test::uniform_matrix(net.state_size(), 9, -spread, spread, 4);
    const Eigen::MatrixXd s_b = test::uniform_matrix(net.state_size(), 9, -spread, spread, 5);
    LayeredHopfield<double>::HebbianRates rates;
    net.hebbian_rates(s_a, s_b, x, rates);
    Eigen::VectorXd diff(net.params().size());
    net.param_gradient_difference(s_a, s_b, x, diff);
    const double bound = net.hebbian_bound(rates, x);
    EXPECT_LE(diff.cwiseAbs().maxCoeff(), bound) << spread;
    EXPECT_GT(diff.cwiseAbs().maxCoeff(), 1e-3 * bound) << spread << ": a bound, but not a useless one";
    Eigen::MatrixXd bad = x;
    bad(2, 5) = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(net.hebbian_bound(rates, bad), std::numeric_limits<double>::infinity());
    bad(2, 5) = -std::numeric_limits<double>::infinity();
    EXPECT_EQ(net.hebbian_bound(rates, bad), std::numeric_limits<double>::infinity());
    LayeredHopfield<double>::HebbianRates bad_rates = rates;
    bad_rates.b(4, 8) = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(net.hebbian_bound(bad_rates, x), std::numeric_limits<double>::infinity());
  }
}

// The bound's scan in parts (HasPartialHebbianBound), as the trainer runs it chunk by chunk: the
// largest over parts that cover the columns gives the whole's bound, whatever the cut, and a NaN
// or an infinity in one part (in a rate or in the input) makes the bound infinite.
TEST(LayeredHopfieldTiled, HebbianBoundInPartsIsTheWholeBound) {
  static_assert(HasPartialHebbianBound<LayeredHopfield<float>>);
  LayeredHopfield<float> net({6, 11, 7, 3}, Activation::Kind::hard_sigmoid);
  net.init_glorot(2);
  const Index cols = 9;
  // Spread 3: the largest entry is an input's and above 1, so each part's largest is its own.
  const Eigen::MatrixXf x = test::uniform_matrix(6, cols, -3.0, 3.0, 3).cast<float>();
  const Eigen::MatrixXf s_a = test::uniform_matrix(net.state_size(), cols, -1.0, 2.0, 4).cast<float>();
  const Eigen::MatrixXf s_b = test::uniform_matrix(net.state_size(), cols, -1.0, 2.0, 5).cast<float>();
  LayeredHopfield<float>::HebbianRates rates;
  net.hebbian_rates(s_a, s_b, x, rates);
  const double whole = net.hebbian_bound(rates, x);
  const double largest_x = double(x.cwiseAbs().maxCoeff());
  ASSERT_GT(largest_x, 1.0);
  EXPECT_EQ(whole, 2.0 * double(cols) * largest_x * largest_x);
  auto in_parts = [&](const LayeredHopfield<float>::HebbianRates& r, const Eigen::MatrixXf& in, Index part) {
    double largest = 0;
    for (Index first = 0; first < cols; first += part) {
      const double v = net.hebbian_largest(r, in, first, std::min(part, cols - first));
      largest = largest_or_nan(largest, v);  // as the trainer merges its chunks
    }
    return net.hebbian_bound_from(largest, cols);
  };
  for (const Index part : {Index(1), Index(2), Index(4), Index(5), cols}) {
    EXPECT_EQ(in_parts(rates, x, part), whole) << "parts of " << part;
    // Each part alone sees only its own columns: the largest of the first part is its own.
    EXPECT_EQ(net.hebbian_largest(rates, x, 0, part),
              std::max(double(x.leftCols(part).cwiseAbs().maxCoeff()),
                       std::max({double(rates.a.leftCols(part).cwiseAbs().maxCoeff()),
                                 double(rates.b.leftCols(part).cwiseAbs().maxCoeff()),
                                 double(rates.delta1.leftCols(part).cwiseAbs().maxCoeff())})));
    Eigen::MatrixXf bad = x;
    bad(2, cols - 1) = std::numeric_limits<float>::quiet_NaN();  // in the last part, whatever the cut
    EXPECT_EQ(in_parts(rates, bad, part), std::numeric_limits<double>::infinity()) << "parts of " << part;
    bad(2, cols - 1) = std::numeric_limits<float>::infinity();
    EXPECT_EQ(in_parts(rates, bad, part), std::numeric_limits<double>::infinity()) << "parts of " << part;
    LayeredHopfield<float>::HebbianRates bad_rates = rates;
    bad_rates.delta1(4, cols - 1) = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(in_parts(bad_rates, x, part), std::numeric_limits<double>::infinity()) << "parts of " << part;
  }
  EXPECT_EQ(net.hebbian_largest(rates, x, cols, 0), 0.0);  // an empty part
  EXPECT_THROW(net.hebbian_largest(rates, x, 5, 5), DimensionMismatch);
}

}  // namespace
}  // namespace ebm

namespace ebm {
namespace {

// Fan-in uniform (PyTorch's nn.Linear): W_k and b_k within ±gain_k/√n_{k−1}, spread over that
// range (not all tiny, biases not zero), reproducible from the seed, another seed another draw;
// a gain scales its layer only. Glorot with per-layer gains: the same pattern, scaled.
TEST(LayeredHopfieldInit, FanInUniformFillsWeightsAndBiasesWithinTheirBound) {
  LayeredHopfield<double> net({100, 25, 10});
  net.init_fan_in_uniform(4, {1.0, 0.5});
  const double bound1 = 1.0 / 10.0, bound2 = 0.5 / 5.0;
  for (auto [k, bound] : {std::pair{Index(1), bound1}, std::pair{Index(2), bound2}}) {
    EXPECT_LE(net.weight(k).cwiseAbs().maxCoeff(), bound) << k;
    EXPECT_GT(net.weight(k).cwiseAbs().maxCoeff(), 0.9 * bound) << k;
    EXPECT_LE(net.bias(k).cwiseAbs().maxCoeff(), bound) << k;
    EXPECT_GT(net.bias(k).cwiseAbs().maxCoeff(), 0.5 * bound) << k;
    EXPECT_NEAR(net.weight(k).mean(), 0.0, 0.1 * bound) << k;
  }
  LayeredHopfield<double> same({100, 25, 10}), other({100, 25, 10}), unit({100, 25, 10});
  same.init_fan_in_uniform(4, {1.0, 0.5});
  other.init_fan_in_uniform(5, {1.0, 0.5});
  unit.init_fan_in_uniform(4);  // empty gains: all 1
  EXPECT_EQ(same.params(), net.params());
  EXPECT_GT((other.params() - net.params()).cwiseAbs().maxCoeff(), 0.01);
  EXPECT_EQ(unit.weight(1), net.weight(1));
  EXPECT_LT((unit.weight(2) * 0.5 - net.weight(2)).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_THROW(net.init_fan_in_uniform(4, {1.0}), InvalidOptions);
  EXPECT_THROW(net.init_fan_in_uniform(4, {1.0, 0.0}), InvalidOptions);

  LayeredHopfield<double> g1({100, 25, 10}), g2({100, 25, 10});
  g1.init_glorot(3);
  g2.init_glorot(3, std::vector<double>{2.0, 1.0});
  EXPECT_LT((g1.weight(1) * 2.0 - g2.weight(1)).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_EQ(g1.weight(2), g2.weight(2));
  EXPECT_EQ(g2.bias(1).cwiseAbs().maxCoeff(), 0.0);
}

}  // namespace
}  // namespace ebm
