#include "core/option_table.h"

#include <cmath>

namespace taskrel::options {

std::string Range::requirement() const {
  const bool has_low = std::isfinite(low), has_high = std::isfinite(high);
  if (has_low && has_high)
    return fmt::format("must be in {}{}, {}{}", low_open ? "(" : "[", low, high, high_open ? ")" : "]");
  if (has_low) return fmt::format("must be {} {}", low_open ? ">" : ">=", low);
  if (has_high) return fmt::format("must be {} {}", high_open ? "<" : "<=", high);
  return {};
}

std::string flag_of(const char* key) {
  std::string flag = std::string("--") + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

}  // namespace taskrel::options
