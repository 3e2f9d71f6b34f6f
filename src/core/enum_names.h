// The names of an enum, declared once in one small table per enum, from which
// parsing, printing and the list of choices (for --help, CLI11's IsMember and
// "did you mean" messages) are all derived, so they cannot drift apart.
//
// A table is a specialisation of EnumNames<E> next to the enum:
//
//   template <> struct EnumNames<GroundCost> {
//     static constexpr const char* what = "ground cost";
//     static constexpr EnumName<GroundCost> names[] = {{GroundCost::kEuclidean, "euclidean"}, ...};
//   };
//
// The first name of a value is its canonical name (what results record);
// later entries for the same value are aliases, accepted when parsing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E>
struct EnumNames;  // specialised for every enum that has names

// The canonical name of `value`.
template <typename E>
const char* enum_name(E value) {
  for (const auto& entry : EnumNames<E>::names)
    if (entry.value == value) return entry.name;
  TASKREL_ASSERT(false, "{} value {} has no name", EnumNames<E>::what, static_cast<int>(value));
  return "?";
}

// Every accepted name, canonical names first, then the aliases.
template <typename E>
std::vector<std::string> enum_choices(bool with_aliases = true) {
  std::vector<std::string> canonical, aliases;
  for (const auto& entry : EnumNames<E>::names) {
    const bool first = std::string_view(enum_name(entry.value)) == entry.name;
    (first ? canonical : aliases).push_back(entry.name);
  }
  if (with_aliases) canonical.insert(canonical.end(), aliases.begin(), aliases.end());
  return canonical;
}

// "a, b or c": the canonical names, for messages.
template <typename E>
std::string enum_choices_text() {
  const auto names = enum_choices<E>(false);
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return text;
}

// The value named `name` (canonical or alias); InputError "unknown <what>
// '<name>' (expected a, b or c)" otherwise.
template <typename E>
E parse_enum(std::string_view name) {
  for (const auto& entry : EnumNames<E>::names)
    if (name == entry.name) return entry.value;
  throw InputError(fmt::format("unknown {} '{}' (expected {})", EnumNames<E>::what, name, enum_choices_text<E>()));
}

}  // namespace taskrel
