// The building blocks of taskrel's option tables: one entry per option, with
// its key, the field it sets, its help text, its valid range and whether it
// changes results. A table is a function that hands every entry of an
// options struct to a visitor (see pipeline/triple_options.h); the command
// line (cli/option_flags.h), the job-spec reader (matrix/job_spec.cpp), the
// validation, the JSON echo and the result hash are all visitors of the same
// table, so an option is declared once and none of them can forget it.
//
// Defaults are the member initialisers of the options struct the library
// reads; the table only binds names, help and checks to those members.
//
// Value types: bool, int, std::int64_t, std::uint64_t, double (checked
// against the entry's Range), an enum with an EnumNames table
// (core/enum_names.h), and any type with an OptionCodec specialisation
// (text <-> value, for values such as a list of baseline names).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/enum_names.h"

namespace taskrel::options {

// Whether an option changes a result. Result options are echoed with every
// result and hashed into the journal, so a resumed run can never reuse a
// result computed under another value.
enum class Effect { kResult, kRunOnly };

// Where a job spec holds the option: in [relate] or at the top level.
enum class Section { kRelate, kTop };

// A closed or open interval of valid numeric values.
struct Range {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false, high_open = false;

  bool contains(double value) const {
    if (value != value) return false;  // NaN
    const bool above = low_open ? value > low : value >= low;
    const bool below = high_open ? value < high : value <= high;
    return above && below;
  }
  // "must be >= 0", "must be > 0", "must be in (0, 1]"; empty when unbounded.
  std::string requirement() const;
  bool bounded() const { return low > -std::numeric_limits<double>::infinity() || high < std::numeric_limits<double>::infinity(); }
};

inline Range any() { return {}; }
inline Range at_least(double low) { return {low, std::numeric_limits<double>::infinity(), false, false}; }
inline Range above(double low) { return {low, std::numeric_limits<double>::infinity(), true, false}; }
inline Range interval(double low, double high, bool low_open, bool high_open) { return {low, high, low_open, high_open}; }

// Text form of non-numeric, non-enum option values. Specialise for a type to
// make it an option value: text() and parse(); `choices` feeds --help and
// CLI11's checks (empty: free text), help() is appended to the entry's help;
// json() is what results echo; `accepts_list` lets a job spec give an array
// of strings, joined with commas before parse().
template <typename T>
struct OptionCodec;

template <typename T>
constexpr bool is_number_v = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;

// One entry of a table. T may be const (visitors that only read).
template <typename T>
struct Option {
  const char* key;  // job key; the command-line flag is --key with '_' -> '-'
  T& value;
  const char* help;
  Effect effect = Effect::kResult;
  Section section = Section::kRelate;
  Range range = {};
};

template <typename T>
Option<T> option(const char* key, T& value, const char* help, Effect effect = Effect::kResult,
                 Range range = {}, Section section = Section::kRelate) {
  return Option<T>{key, value, help, effect, section, range};
}

// "--lambda-pm" for key "lambda_pm".
std::string flag_of(const char* key);

// The value as text, as --help and messages show it.
template <typename T>
std::string value_text(const T& value) {
  using V = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<V, bool>) return value ? "true" : "false";
  else if constexpr (is_number_v<V>) return fmt::format("{}", value);
  else if constexpr (std::is_enum_v<V>) return enum_name(value);
  else return OptionCodec<V>::text(value);
}

// The value parsed from text (enums and codec types); InputError when bad.
template <typename T>
T parse_value(const std::string& text) {
  if constexpr (std::is_enum_v<T>) return parse_enum<T>(text);
  else return OptionCodec<T>::parse(text);
}

template <typename T>
std::vector<std::string> value_choices() {
  if constexpr (std::is_enum_v<T>) return enum_choices<T>();
  else if constexpr (is_number_v<T> || std::is_same_v<T, bool>) return {};
  else return OptionCodec<T>::choices();
}

// The problem with a numeric value ("must be >= 0 (got -1)"), empty if none.
template <typename T>
std::string range_problem(const Option<T>& entry) {
  using V = std::remove_cv_t<T>;
  if constexpr (is_number_v<V>) {
    if (!entry.range.contains(static_cast<double>(entry.value)))
      return fmt::format("{} (got {})", entry.range.requirement(), entry.value);
  }
  return {};
}

}  // namespace taskrel::options
