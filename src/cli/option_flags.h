// Command-line flags from an option table (core/option_table.h): one flag
// per entry, --key with '_' -> '-', its help text and default from the
// table; bools as --key / --no-key; enums and codec values checked against
// their names (CLI11's IsMember, which also lists them in --help). Ranges are
// checked after parsing by the table's own validation, so the command line
// and the job spec report them alike.
#pragma once

#include <optional>
#include <string>
#include <type_traits>

#include <CLI/CLI.hpp>

#include "core/option_table.h"

namespace taskrel::cli {

// An enum flag whose values are the enum's names.
template <typename E>
CLI::Option* add_enum_flag(CLI::App& app, const std::string& flag, E& value, const std::string& help) {
  return app
      .add_option_function<std::string>(
          flag, [&value](const std::string& name) { value = parse_enum<E>(name); }, help)
      ->check(CLI::IsMember(enum_choices<E>()))
      ->default_str(enum_name(value));
}

// As above for an optional enum (unset: the command's default, said in `help`).
template <typename E>
CLI::Option* add_enum_flag(CLI::App& app, const std::string& flag, std::optional<E>& value, const std::string& help) {
  return app
      .add_option_function<std::string>(
          flag, [&value](const std::string& name) { value = parse_enum<E>(name); }, help)
      ->check(CLI::IsMember(enum_choices<E>()));
}

// The flag of one table entry. A bool is one flag that flips its default:
// --key when it is off by default, --no-key when it is on.
template <typename T>
CLI::Option* add_option_flag(CLI::App& app, const options::Option<T>& entry) {
  const std::string flag = options::flag_of(entry.key);
  std::string help = entry.help;
  const bool implied_by_type = std::is_unsigned_v<T> && entry.range.low == 0 && !entry.range.low_open;
  if (entry.range.bounded() && !implied_by_type) help += " (" + entry.range.requirement() + ")";
  if constexpr (std::is_same_v<T, bool>) {
    if (!entry.value) return app.add_flag(flag, entry.value, help);
    return app.add_flag_callback("--no-" + flag.substr(2), [&value = entry.value] { value = false; },
                                 "Turn off (on by default): " + help);
  } else if constexpr (options::is_number_v<T>) {
    return app.add_option(flag, entry.value, help)->capture_default_str();
  } else if constexpr (std::is_enum_v<T>) {
    return add_enum_flag(app, flag, entry.value, help);
  } else {
    help += options::OptionCodec<T>::help();
    auto* added = app.add_option_function<std::string>(
        flag,
        [&value = entry.value, flag](const std::string& text) {
          try {
            value = options::parse_value<T>(text);
          } catch (const InputError& error) {
            throw CLI::ValidationError(flag, error.what());  // a usage error, reported like CLI11's own
          }
        },
        help);
    if (const auto choices = options::value_choices<T>(); !choices.empty()) added->check(CLI::IsMember(choices));
    return added->default_str(options::value_text(entry.value));
  }
}

}  // namespace taskrel::cli
