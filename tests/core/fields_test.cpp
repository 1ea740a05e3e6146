// Declared fields (core/fields.hpp): checks name the field with its section, enumerations parse
// and list their names from one table, and every declared default passes its own check.
#include <gtest/gtest.h>

#include "core/fields.hpp"
#include "learning/bptt.hpp"
#include "learning/early_inference.hpp"
#include "learning/equilibrium_prop.hpp"
#include "learning/exact_gradient.hpp"
#include "learning/stochastic_ep.hpp"
#include "models/layered_hopfield.hpp"
#include "models/xie_seung.hpp"
#include "solvers/parallel.hpp"
#include "solvers/relax_options.hpp"
#include "training/callbacks.hpp"
#include "training/optimizer.hpp"

namespace {

TEST(Fields, ChecksNameTheFieldWithItsSection) {
  ebm::RelaxOptions o;
  o.dt = -1;
  std::string why;
  EXPECT_FALSE(ebm::check_fields(o, "relax.free.", &why));
  EXPECT_EQ(why, "relax.free.dt must be positive and finite, got -1");
  ebm::OptimizerOptions opt;
  opt.learning_rates = {0.1, std::nan("")};
  EXPECT_FALSE(opt.is_valid(&why));
  EXPECT_EQ(why, "optimizer.learning_rates[1] must be finite and ≥ 0, got nan");
  ebm::LayeredHopfieldOptions m;
  m.sizes = {784, 0, 10};
  EXPECT_FALSE(m.is_valid(&why));
  EXPECT_EQ(why, "model.sizes[1] must be ≥ 1, got 0");
}

TEST(Fields, EnumerationsParseAndListTheirNames) {
  EXPECT_EQ(ebm::parse_enum<ebm::Method>("mala"), ebm::Method::mala);
  EXPECT_EQ(ebm::enum_name(ebm::EPVariant::random_sign), "random_sign");
  EXPECT_EQ(ebm::enum_choices<ebm::OptimizerMethod>(), "sgd or adam");
  EXPECT_EQ(ebm::enum_choices<ebm::Method>(), "euler, rk4, dopri5, fixed_point, ula or mala");
  try {
    ebm::parse_enum<ebm::ScheduleKind>("linear");
    FAIL();
  } catch (const ebm::InvalidOptions& e) {
    EXPECT_STREQ(e.what(), "unknown value 'linear' (expected constant, step or cosine)");
  }
}

/// Every declared struct's defaults pass its checks: a default is never a value the reader refuses.
template <class S>
void expect_defaults_valid(const char* section) {
  std::string why;
  EXPECT_TRUE(ebm::check_fields(S{}, section, &why)) << why;
  EXPECT_FALSE(ebm::field_names<S>().empty());
}

TEST(Fields, DeclaredDefaultsPassTheirChecks) {
  expect_defaults_valid<ebm::RelaxOptions>("relax.");
  expect_defaults_valid<ebm::OptimizerOptions>("optimizer.");
  expect_defaults_valid<ebm::ParallelOptions>("parallel.");
  expect_defaults_valid<ebm::EPOptions>("estimator.");
  expect_defaults_valid<ebm::EarlyInferenceOptions>("estimator.");
  expect_defaults_valid<ebm::StochasticEPOptions>("estimator.");
  expect_defaults_valid<ebm::BpttOptions>("estimator.");
  expect_defaults_valid<ebm::ExactGradientOptions>("estimator.");
  expect_defaults_valid<ebm::LayeredHopfieldOptions>("model.");
  expect_defaults_valid<ebm::XieSeungOptions>("model.");
  expect_defaults_valid<ebm::ScheduleOptions>("schedule.");
  expect_defaults_valid<ebm::EarlyStoppingOptions>("early_stopping.");
  EXPECT_EQ(ebm::field_names<ebm::EPOptions>(), "beta, variant");
}

}  // namespace
