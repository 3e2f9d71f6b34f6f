// The option table of a triple (pipeline/triple_options.h): every option
// marked as changing results is in the journal's result hash, and no other
// is, so a new field can never let a resumed matrix reuse stale results;
// keys and flags are unique; ranges are enforced by the one validation.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <fmt/format.h>

#include "core/error.h"
#include "pipeline/triple_options.h"

namespace taskrel::pipeline {
namespace {

// A different valid value of each option type.
void perturb(bool& value) { value = !value; }
template <typename T>
std::enable_if_t<options::is_number_v<T>> perturb(T& value) {
  value = static_cast<T>(value + 1);
}
template <typename E>
std::enable_if_t<std::is_enum_v<E>> perturb(E& value) {
  const auto names = enum_choices<E>(false);
  ASSERT_GE(names.size(), 2u) << EnumNames<E>::what;
  value = parse_enum<E>(enum_name(value) == names[0] ? names[1] : names[0]);
}
void perturb(MetricSelection& value) { value.names = value.names.empty() ? baselines::metric_names() : std::vector<std::string>{"leep"}; }
void perturb(Tau0Choice& value) { value.automatic = !value.automatic; }
void perturb(Tau0Grid& value) { value.relative.push_back(8.0); }
template <typename E>
void perturb(std::optional<E>& value) {
  value = value ? std::nullopt : std::optional<E>(parse_enum<E>(enum_choices<E>(false).front()));
}

// Visits the options of `o` and perturbs the one named `key`.
void perturb_option(TripleOptions& o, const std::string& key) {
  visit_triple_options(o, [&](const auto& entry) {
    if (entry.key == key) perturb(entry.value);
  });
}

std::vector<std::pair<std::string, options::Effect>> table_keys() {
  TripleOptions o;
  std::vector<std::pair<std::string, options::Effect>> keys;
  visit_triple_options(o, [&](const auto& entry) { keys.emplace_back(entry.key, entry.effect); });
  return keys;
}

TEST(TripleOptionTable, EveryResultOptionIsHashedAndNoOtherIs) {
  const TripleOptions defaults;
  const std::string base = result_options_json(defaults).dump();
  int result_options = 0;
  for (const auto& [key, effect] : table_keys()) {
    TripleOptions changed;
    perturb_option(changed, key);
    const bool hash_changed = result_options_json(changed).dump() != base;
    if (effect == options::Effect::kResult) {
      ++result_options;
      EXPECT_TRUE(hash_changed) << key << " changes results but is not in the result hash";
    } else {
      EXPECT_FALSE(hash_changed) << key << " is run-only but changes the result hash";
    }
  }
  EXPECT_GE(result_options, 20);
}

TEST(TripleOptionTable, ResultJsonHoldsExactlyTheResultOptions) {
  const nlohmann::json json = result_options_json(TripleOptions{});
  std::set<std::string> expected = {"version"};
  for (const auto& [key, effect] : table_keys())
    if (effect == options::Effect::kResult) expected.insert(key);
  std::set<std::string> got;
  for (const auto& [key, value] : json.items()) got.insert(key);
  EXPECT_EQ(got, expected);
}

TEST(TripleOptionTable, KeysAndFlagsAreUnique) {
  std::set<std::string> keys, flags;
  for (const auto& [key, effect] : table_keys()) {
    EXPECT_TRUE(keys.insert(key).second) << key;
    EXPECT_TRUE(flags.insert(options::flag_of(key.c_str())).second) << key;
  }
}

TEST(TripleOptionTable, ValidationReportsEveryRangeByKey) {
  TripleOptions o;
  o.target_fraction = 1.5;
  o.relate.epochs = -1;
  o.relate.lr = 0;
  o.device = ot::Device::kCpu;
  std::vector<std::string> problems;
  validate_triple_options(o, [&](const char* key, options::Section, const std::string& problem) {
    problems.push_back(std::string(key) + " " + problem);
  });
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "epochs must be >= 0 (got -1)");
  EXPECT_EQ(problems[1], "target_fraction must be in (0, 1] (got 1.5)");
  EXPECT_EQ(problems[2], "lr must be > 0 (got 0)");
  EXPECT_THROW(validate_triple_options(o, "here"), InputError);
}

TEST(TripleOptionTable, DefaultsValidateAndSeedTheHead) {
  TripleOptions o;
  o.device = ot::Device::kCpu;
  o.relate.seed = 42;
  EXPECT_NO_THROW(validate_triple_options(o, "defaults"));
  EXPECT_EQ(o.relate.head.seed, 42u);
  EXPECT_EQ(o.relate.device, ot::Device::kCpu);
}

// A resumed matrix must not mix devices or precisions: both are in the hash,
// resolved (never "auto"), so a journal written where auto meant cuda and
// float16 is refused where it means cpu and float32.
TEST(TripleOptionTable, DeviceAndPrecisionAreResolvedIntoTheResultHash) {
  TripleOptions o;
  o.device = ot::Device::kCpu;
  validate_triple_options(o, "here");
  EXPECT_EQ(o.relate.device, ot::Device::kCpu);
  EXPECT_EQ(o.relate.precision, ot::CostPrecision::kFloat32);
  const nlohmann::json cpu = result_options_json(o);
  EXPECT_EQ(cpu["device"], "cpu");
  EXPECT_EQ(cpu["precision"], "float32");

  TripleOptions cpu64;
  cpu64.device = ot::Device::kCpu;
  cpu64.precision = ot::CostPrecision::kFloat64;
  validate_triple_options(cpu64, "here");
  EXPECT_EQ(cpu64.relate.precision, ot::CostPrecision::kFloat64);
  EXPECT_NE(result_options_json(cpu64).dump(), cpu.dump());

  TripleOptions gpu;  // as validation leaves it on a GPU machine
  gpu.device = ot::Device::kCuda;
  gpu.precision = ot::CostPrecision::kFloat16;
  EXPECT_NE(result_options_json(gpu).dump(), cpu.dump());
  gpu.precision = ot::CostPrecision::kFloat32;
  EXPECT_NE(result_options_json(gpu).dump(), cpu.dump());  // same precision, other device
}

TEST(TripleOptionTable, TheCpuRefusesAGpuPrecision) {
  for (const auto precision : {ot::CostPrecision::kFloat16, ot::CostPrecision::kBFloat16}) {
    TripleOptions o;
    o.device = ot::Device::kCpu;
    o.precision = precision;
    std::vector<std::string> problems;
    validate_triple_options(o, [&](const char* key, options::Section, const std::string& problem) {
      problems.push_back(std::string(key) + " " + problem);
    });
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0], fmt::format("precision {} is a GPU storage: the CPU backend stores the cost in float64 "
                                       "or float32 (device cpu)",
                                       enum_name(precision)));
    EXPECT_THROW(validate_triple_options(o, "here"), InputError);
  }
}

TEST(TripleOptionTable, AutoIsTheUnsetDeviceOrPrecision) {
  using Codec = options::OptionCodec<std::optional<ot::CostPrecision>>;
  EXPECT_EQ(Codec::parse("auto"), std::nullopt);
  EXPECT_EQ(Codec::parse("bfloat16"), ot::CostPrecision::kBFloat16);
  EXPECT_EQ(Codec::choices(), (std::vector<std::string>{"float64", "float32", "float16", "bfloat16", "auto"}));
  EXPECT_EQ(Codec::json(std::nullopt), nlohmann::json("auto"));
  EXPECT_THROW(Codec::parse("float8"), InputError);
}

TEST(TripleOptionTable, Tau0IsANumberOrAuto) {
  using Codec = options::OptionCodec<Tau0Choice>;
  EXPECT_TRUE(Codec::parse("auto").automatic);
  EXPECT_DOUBLE_EQ(Codec::parse("0.2").value, 0.2);
  EXPECT_THROW(Codec::parse("0.2x"), InputError);
  EXPECT_EQ(Codec::json(Codec::parse("auto")), nlohmann::json("auto"));
  EXPECT_EQ(options::OptionCodec<Tau0Grid>::parse("0.5, 2").relative, (std::vector<double>{0.5, 2}));
  TripleOptions o;
  o.device = ot::Device::kCpu;
  o.tau0 = Codec::parse("0.2");
  validate_triple_options(o, "here");
  EXPECT_DOUBLE_EQ(o.relate.head.tau0, 0.2);  // the head trains with the chosen budget
  o.tau0.value = -1;
  EXPECT_THROW(validate_triple_options(o, "here"), InputError);
}

TEST(EnumNames, CanonicalNamesAliasesAndErrors) {
  EXPECT_EQ(parse_enum<relatedness::FitMode>("reference"), relatedness::FitMode::kPaperCode);
  EXPECT_STREQ(enum_name(relatedness::FitMode::kPaperCode), "paper-code");
  EXPECT_EQ(enum_choices<relatedness::FitMode>(), (std::vector<std::string>{"label-exact", "paper-code", "reference"}));
  try {
    parse_enum<ot::Device>("tpu");
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_STREQ(error.what(), "unknown device 'tpu' (expected cpu or cuda)");
  }
}

}  // namespace
}  // namespace taskrel::pipeline
