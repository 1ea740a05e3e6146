// The TOML config: defaults, every table read, unknown keys and bad values named, overrides,
// and the effective config written back reading as the same config.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/rules/ep.hpp"
#include "learning/stochastic_ep.hpp"
#include "cli/tool.hpp"
#include "models/layered_hopfield.hpp"

namespace fs = std::filesystem;

namespace {

using ebm::cli::RunConfig;

/// The built-in kinds, registered once for the whole test binary.
const ebm::cli::Registry& registry() {
  static const bool done = (ebm::cli::register_builtins(), true);
  (void)done;
  return ebm::cli::Registry::instance();
}

RunConfig parse(const std::string& text) {
  registry();
  return ebm::cli::config_from_toml(ebm::cli::parse_toml(text, "test.toml"));
}

ebm::LayeredHopfieldOptions model_of(const RunConfig& c) {
  return ebm::cli::model_options<ebm::LayeredHopfieldKind>(c.model_options);
}

ebm::EPOptions ep_of(const RunConfig& c) {
  ebm::EPOptions o;
  ebm::cli::TableReader r(&c.estimator_options, "estimator.");
  r.read(o);
  return o;
}

/// Expects the config to be rejected with a message containing `field`.
void expect_rejected(const std::string& text, const std::string& field) {
  try {
    parse(text);
    FAIL() << "accepted: " << text;
  } catch (const ebm::InvalidOptions& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << "expected '" << field << "' in: " << e.what();
  }
}

const char* kFull = R"(
[model]
sizes = [784, 32, 16, 10]
activation = "logistic"
init_seed = 7
init = "glorot"
init_gain = 0.5
init_gains = [1.0, 0.5, 2]
scalar = "double"
[data]
dir = "/tmp/fm"
train_size = 500
test_size = 100
validation_size = 50
eval_train_size = 200
batch_size = 20
epochs = 3
seed = 99
[relax.free]
method = "rk4"
dt = 0.25
max_steps = 300
grad_tol = 1e-6
[relax.nudged]
method = "dopri5"
abs_tol = 1e-9
rel_tol = 1e-9
on_divergence = "stop"
[estimator]
kind = "ep"
variant = "symmetric"
beta = 0.2
cost = "cross_entropy"
[optimizer]
method = "adam"
learning_rate = 0.001
learning_rates = [0.01, 0.005, 0.001]
beta1 = 0.8
[parallel]
threads = 2
chunk = 8
[output]
dir = "out"
checkpoint = false
)";

TEST(Config, DefaultsAreValid) {
  const RunConfig c = parse("");
  EXPECT_EQ(c.model.kind, "layered_hopfield");
  EXPECT_EQ(model_of(c).sizes, (std::vector<ebm::Index>{784, 64, 10}));
  EXPECT_EQ(c.relax_free.method, ebm::Method::fixed_point);
  EXPECT_EQ(c.estimator.kind, "ep");
  EXPECT_EQ(ep_of(c).beta, ebm::EPOptions{}.beta);  // one default: the library's
}

TEST(Config, ReadsEveryTable) {
  const RunConfig c = parse(kFull);
  EXPECT_EQ(model_of(c).sizes, (std::vector<ebm::Index>{784, 32, 16, 10}));
  EXPECT_EQ(model_of(c).activation, ebm::Activation(ebm::Activation::Kind::logistic));
  EXPECT_EQ(model_of(c).init_seed, 7u);
  EXPECT_EQ(model_of(c).init, ebm::InitKind::glorot);
  EXPECT_EQ(model_of(c).init_gains, (std::vector<double>{1.0, 0.5, 2.0}));
  EXPECT_EQ(c.model.scalar, ebm::cli::Precision::double_);
  EXPECT_EQ(c.estimator.cost, ebm::CostKind::cross_entropy);
  EXPECT_EQ(c.data.train_size, 500);
  EXPECT_EQ(c.data.validation_size, 50);
  EXPECT_EQ(c.data.seed, 99u);
  EXPECT_EQ(c.relax_free.method, ebm::Method::rk4);
  EXPECT_EQ(c.relax_free.dt, 0.25);
  EXPECT_EQ(c.relax_free.max_steps, 300);
  EXPECT_EQ(c.relax_nudged.method, ebm::Method::dopri5);
  EXPECT_EQ(c.relax_nudged.on_divergence, ebm::OnDivergence::stop);
  EXPECT_EQ(ep_of(c).variant, ebm::EPVariant::symmetric);
  EXPECT_EQ(ep_of(c).beta, 0.2);
  EXPECT_EQ(c.optimizer.method, ebm::OptimizerMethod::adam);
  EXPECT_EQ(c.optimizer.learning_rates, (std::vector<double>{0.01, 0.005, 0.001}));
  EXPECT_EQ(c.optimizer.beta1, 0.8);
  EXPECT_EQ(c.parallel.threads, 2);
  EXPECT_EQ(c.parallel.chunk, 8);
  EXPECT_EQ(c.output.dir, "out");
  EXPECT_FALSE(c.output.checkpoint);
  const ebm::EPOptions ep = ebm::cli::EPRule::make<ebm::LayeredHopfield<double>>(
                               ep_of(c), c, ebm::LayeredHopfield<double>({2, 2}), {})
                               .options();
  EXPECT_EQ(ep.beta, 0.2);
  EXPECT_EQ(ep.free.dt, 0.25);
  EXPECT_EQ(ep.seed, 99u);
}

TEST(Config, WrittenConfigReadsBackTheSame) {
  const RunConfig c = parse(kFull);
  const std::string text = ebm::cli::config_to_string(c);
  const RunConfig d = parse(text);
  EXPECT_EQ(ebm::cli::config_to_string(d), text);
  EXPECT_EQ(d.optimizer.learning_rate, 0.001);
  EXPECT_EQ(d.relax_nudged.abs_tol, 1e-9);
  EXPECT_EQ(d.relax_free.grad_tol, 1e-6);
}

TEST(Config, UnknownKeysAreNamed) {
  expect_rejected("[model]\nsize = [1, 10]\n", "unknown config key 'model.size'");
  expect_rejected("[relax.free]\nstep = 0.1\n", "unknown config key 'relax.free.step'");
  expect_rejected("[relax.middle]\ndt = 0.1\n", "unknown config key 'relax.middle'");
  expect_rejected("[trainer]\nx = 1\n", "unknown config key 'trainer'");
  expect_rejected("epochs = 3\n", "unknown config key 'epochs'");
}

TEST(Config, BadValuesAreNamed) {
  expect_rejected("[relax.free]\ndt = -1.0\n", "relax.free.dt must be positive and finite, got -1");
  expect_rejected("[relax.nudged]\nmax_steps = 0\n", "relax.nudged.max_steps must be positive");
  expect_rejected("[relax.free]\nmethod = \"leapfrog\"\n", "relax.free.method: unknown value 'leapfrog' (expected euler, rk4, dopri5, fixed_point, ula or mala)");
  expect_rejected("[relax.free]\nmethod = \"rk4\"\n", "relax.free.method = rk4 needs a smooth energy");
  expect_rejected("[data]\nbatch_size = 0\n", "data.batch_size must be in [1, ");
  expect_rejected("[data]\nbatch_size = \"big\"\n", "data.batch_size must be an integer");
  expect_rejected("[data]\nseed = -3\n", "data.seed must be ≥ 0");
  expect_rejected("[data]\ntrain_images = \"a\"\n", "give all four or none");
  expect_rejected("[model]\nsizes = [784, 0, 10]\n", "model.sizes[1] must be ≥ 1");
  expect_rejected("[model]\nsizes = [784, 6.5, 10]\n", "model.sizes[1] must be an integer");
  expect_rejected("[model]\nactivation = \"relu\"\n", "model.activation: unknown activation 'relu'");
  expect_rejected("[model]\nscalar = \"half\"\n", "model.scalar: unknown value 'half' (expected float or double)");
  expect_rejected("[estimator]\nkind = \"backprop\"\n", "estimator.kind = \"backprop\" is not a registered learning rule");
  expect_rejected("[estimator]\nvariant = \"two_sided\"\n", "estimator.variant: unknown value 'two_sided'");
  expect_rejected("[estimator]\nbeta = 0\n", "estimator.beta must be positive");
  expect_rejected("[optimizer]\nmomentum = 1.5\n", "optimizer.momentum must be in [0, 1)");
  expect_rejected("[optimizer]\nmethod = \"lbfgs\"\n", "optimizer.method: unknown value 'lbfgs' (expected sgd or adam)");
  expect_rejected("[parallel]\nchunk = 0\n", "parallel.chunk must be positive");
  expect_rejected("[output]\ncheckpoint = 1\n", "output.checkpoint must be true or false");
  expect_rejected("model = 3\n", "config key 'model' must be a table");
  expect_rejected("[model\n", "test.toml:");
}

TEST(Config, OverridesReplaceFileValues) {
  registry();
  toml::table t = ebm::cli::parse_toml(kFull, "test.toml");
  ebm::cli::apply_override(t, "data.epochs=5");
  ebm::cli::apply_override(t, "relax.free.method=euler");  // bare word: a string
  ebm::cli::apply_override(t, "model.sizes=[784, 8, 10]");
  ebm::cli::apply_override(t, "model.init_gains=[]");
  ebm::cli::apply_override(t, "optimizer.learning_rates=[]");
  ebm::cli::apply_override(t, "output.dir=results/run 1");
  const RunConfig c = ebm::cli::config_from_toml(t);
  EXPECT_EQ(c.data.epochs, 5);
  EXPECT_EQ(c.relax_free.method, ebm::Method::euler);
  EXPECT_EQ(model_of(c).sizes, (std::vector<ebm::Index>{784, 8, 10}));
  EXPECT_TRUE(c.optimizer.learning_rates.empty());
  EXPECT_EQ(c.output.dir, "results/run 1");
  EXPECT_EQ(c.data.batch_size, 20);  // untouched
  toml::table empty;
  ebm::cli::apply_override(empty, "data.bogus=1");
  EXPECT_THROW(ebm::cli::config_from_toml(empty), ebm::InvalidOptions);
  EXPECT_THROW(ebm::cli::apply_override(empty, "novalue"), ebm::InvalidOptions);
}

// ---- Hostile configs -----------------------------------------------------------------------

TEST(ConfigHostile, BadUtf8IsASyntaxErrorWithItsPosition) {
  expect_rejected("[data]\ndir = \"/tmp/\xff\xfe\"\n", "test.toml:2:");
  expect_rejected("# caf\xc3\n[model]\n", "test.toml:1:");
  expect_rejected("[mod\x80" "el]\n", "test.toml:1:");
}

TEST(ConfigHostile, NaNAndInfiniteValuesAreNamed) {
  expect_rejected("[relax.free]\ndt = nan\n", "relax.free.dt must be positive and finite, got nan");
  expect_rejected("[relax.nudged]\ngrad_tol = inf\n", "relax.nudged.grad_tol must be finite");
  expect_rejected("[relax.free]\nt_max = nan\n", "relax.free.t_max must be positive");
  expect_rejected("[optimizer]\nlearning_rate = inf\n", "optimizer.learning_rate must be positive and finite");
  expect_rejected("[optimizer]\nlearning_rates = [0.1, nan]\n", "optimizer.learning_rates[1] must be finite and ≥ 0");
  expect_rejected("[optimizer]\nmomentum = nan\n", "optimizer.momentum must be in [0, 1)");
  expect_rejected("[estimator]\nbeta = -inf\n", "estimator.beta must be positive and finite");
  expect_rejected("[estimator]\ngamma = 0.5\n", "unknown config key 'estimator.gamma': not an option of estimator.kind = \"ep\"");
  expect_rejected("[model]\ngamma = 0.5\n", "unknown config key 'model.gamma': not an option of model.kind = \"layered_hopfield\"");
  expect_rejected("[model]\ninit_gain = inf\n", "model.init_gain must be positive");
  expect_rejected("[model]\ninit = \"he\"\n", "model.init: unknown value 'he' (expected fan_in_uniform or glorot)");
  expect_rejected("[model]\ninit_gains = [1.0]\n", "model.init_gains needs one gain per layer after the input (2), got 1");
  expect_rejected("[model]\ninit_gains = [1.0, -1]\n", "model.init_gains[1] must be positive and finite");
  expect_rejected("[relax.free]\ndivergence_bound = nan\n", "relax.free.divergence_bound must be positive");
}

TEST(ConfigHostile, SizesThatCannotBeANetwork) {
  expect_rejected("[model]\nsizes = []\n", "model.sizes needs at least an input and an output layer");
  expect_rejected("[model]\nsizes = [10]\n", "model.sizes needs at least an input and an output layer");
  expect_rejected("[model]\nsizes = [784, -64, 10]\n", "model.sizes[1] must be ≥ 1, got -64");
  expect_rejected("[model]\nsizes = [784, \"64\", 10]\n", "model.sizes[1] must be an integer");
  expect_rejected("[model]\nsizes = 784\n", "model.sizes must be an array");
  // Sane limits, checked before anything is allocated.
  expect_rejected("[model]\nsizes = [784, 100000000, 10]\n", "model.sizes[1] = 100000000 is beyond the limit");
  expect_rejected("[model]\nsizes = [784, 16000000, 16000000, 10]\n", "parameters, beyond the limit of 2147483648");
}

TEST(ConfigHostile, HugeAndOutOfRangeNumbers) {
  expect_rejected("[data]\nepochs = 99999999999999999999\n", "test.toml:2:");  // beyond int64: TOML refuses it
  expect_rejected("[parallel]\nthreads = 4294967297\n", "parallel.threads = 4294967297 is out of range");
  expect_rejected("[parallel]\nthreads = 100000\n", "parallel.threads must be in [0, 4096], got 100000");
  expect_rejected("[data]\nbatch_size = 9223372036854775807\n", "data.batch_size must be in [1, ");
  expect_rejected("[data]\ntrain_size = -1\n", "data.train_size must be ≥ 0");
  expect_rejected("[data]\nepochs = -2\n", "data.epochs must be ≥ 0");
  expect_rejected("[model]\ninit_seed = -1\n", "model.init_seed must be ≥ 0");
}

TEST(ConfigHostile, DuplicateKeysAndTables) {
  expect_rejected("[data]\nepochs = 1\nepochs = 2\n", "test.toml:3:");
  expect_rejected("[data]\nepochs = 1\n[data]\nseed = 2\n", "test.toml:3:");
}

TEST(ConfigHostile, NulInAPath) {
  expect_rejected("[data]\ndir = \"/tmp/a\\u0000b\"\n", "data.dir must not contain a NUL character");
  expect_rejected("[output]\ndir = \"\\u0000\"\n", "output.dir must not contain a NUL character");
}

TEST(ConfigHostile, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "x = " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  EXPECT_THROW(parse(deep), ebm::InvalidOptions);
  std::string tables = "x = " + std::string(5000, '{');
  EXPECT_THROW(parse(tables), ebm::InvalidOptions);
}

TEST(ConfigHostile, OnUnconvergedIsReadAndChecked) {
  EXPECT_EQ(parse("").relax.on_unconverged, ebm::OnUnconverged::warn);
  EXPECT_EQ(parse("[relax]\non_unconverged = \"fail\"\n").relax.on_unconverged, ebm::OnUnconverged::fail);
  expect_rejected("[relax]\non_unconverged = \"panic\"\n", "relax.on_unconverged: unknown value 'panic'");
  const RunConfig c = parse("[relax]\non_unconverged = \"fail\"\n");
  EXPECT_EQ(parse(ebm::cli::config_to_string(c)).relax.on_unconverged, ebm::OnUnconverged::fail);
}

// The registry's checks of a pair (model, rule) and of the phases a rule can run.
TEST(ConfigRegistry, UnsupportedCombinationsAreNamed) {
  expect_rejected("[relax.free]\nmethod = \"mala\"\n[estimator]\nkind = \"recurrent_backprop\"\n",
                  "relax.free.method = mala: estimator.kind = \"recurrent_backprop\" has no Langevin phases");
  expect_rejected("[relax.free]\nmethod = \"mala\"\n",
                  "relax.free.method = mala: estimator.kind = \"ep\" samples its phases when relax.nudged.method is");
  expect_rejected("[langevin]\nchains = 3\nantithetic = true\n", "langevin.antithetic needs an even number of chains");
  {
    const RunConfig l = parse("[relax.free]\nmethod = \"mala\"\n[relax.nudged]\nmethod = \"mala\"\n"
                              "[langevin]\nchains = 4\nsamples = 3\n");
    EXPECT_EQ(l.langevin.chains, 4);
    EXPECT_EQ(l.langevin.samples, 3);
    EXPECT_EQ(parse(ebm::cli::config_to_string(l)).langevin.samples, 3);
  }
  // A pair started at the fixed points needs a deterministic free phase to relax them from.
  EXPECT_EQ(parse("[relax.nudged]\nmethod = \"mala\"\n[langevin]\nstart = \"fixed_points\"\n").langevin.start,
            ebm::PairStart::fixed_points);
  expect_rejected("[relax.free]\nmethod = \"ula\"\n[relax.nudged]\nmethod = \"ula\"\n[langevin]\nstart = \"fixed_points\"\n",
                  "langevin.start = fixed_points needs a deterministic free phase, but the free phase is ula");
  expect_rejected("[langevin]\nstart = \"middle\"\n", "langevin.start");
  expect_rejected("[model]\nkind = \"boltzmann\"\n", "model.kind = \"boltzmann\" is not a registered model");
  expect_rejected("[estimator]\nkind = \"stochastic_ep\"\n", "estimator.kind = \"stochastic_ep\" samples its phases");
  expect_rejected("[estimator]\nkind = \"chl\"\nbeta = 0.5\n", "unknown config key 'estimator.beta'");
  // A Langevin phase where the rule has one, and the rule's own options.
  const RunConfig c = parse("[relax.free]\nmethod = \"mala\"\ntemperature = 0.02\n[estimator]\nkind = \"stochastic_ep\"\n"
                            "chains = 4\n");
  EXPECT_EQ(c.relax_free.method, ebm::Method::mala);
  EXPECT_EQ(c.relax_free.temperature, 0.02);
  EXPECT_EQ(*c.estimator_options["chains"].value<std::int64_t>(), 4);
  EXPECT_EQ(*c.estimator_options["burn_in"].value<std::int64_t>(), ebm::StochasticEPOptions{}.burn_in);
}

// Every field is in --help-all, with its default, from the declarations.
TEST(ConfigRegistry, HelpListsEveryDeclaredField) {
  std::ostringstream out;
  ebm::cli::print_config_help(out, registry());
  const std::string help = out.str();
  for (const char* line : {"relax.free.dt = 1", "data.batch_size = 32", "optimizer.learning_rate = 0.05",
                           "model.sizes = [ 784, 64, 10 ]", "estimator.beta = 0.5", "estimator.chains = 16",
                           "estimator.cg_tol", "parallel.threads = 0", "output.dir = 'run'"})
    EXPECT_NE(help.find(line), std::string::npos) << "missing '" << line << "' in:\n" << help;
}

TEST(ConfigHostile, FilesThatAreNotConfigs) {
  const fs::path dir = fs::temp_directory_path() / ("ebm_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto expect_file_error = [&](const fs::path& p, const std::string& problem) {
    try {
      registry();
      ebm::cli::read_config(p);
      FAIL() << "accepted " << p;
    } catch (const ebm::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(p.string()), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << "expected '" << problem << "' in: " << what;
    }
  };
  expect_file_error(dir / "missing.toml", "no such config file");
  expect_file_error(dir, "is a directory, not a config file");
  const fs::path utf16 = dir / "utf16.toml";
  std::ofstream(utf16, std::ios::binary) << std::string("\xff\xfe[\0m\0o\0d\0e\0l\0]\0\n\0", 16);
  expect_file_error(utf16, utf16.string() + ":1:");
  const fs::path binary = dir / "checkpoint.bin";
  std::ofstream(binary, std::ios::binary) << std::string("EBMCKPT\n\x01\0\0\0\0\0\0\0", 16);
  expect_file_error(binary, binary.string() + ":");
  const fs::path typo = dir / "typo.toml";
  std::ofstream(typo) << "[data]\nbatchsize = 3\n";
  expect_file_error(typo, "unknown config key 'data.batchsize'");
  fs::remove_all(dir);
}

}  // namespace
