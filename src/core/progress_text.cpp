#include "core/progress_text.h"

#include <algorithm>

#include <fmt/format.h>

namespace taskrel {

std::string duration_text(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const long long s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>((s % 3600) / 60));
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
  return fmt::format("{}s", s);
}

std::string progress_bar(long long done, long long total, int width) {
  const long long filled = total > 0 ? std::clamp(width * done / total, 0LL, static_cast<long long>(width)) : width;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

}  // namespace taskrel
