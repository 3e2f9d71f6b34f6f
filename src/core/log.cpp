#include "core/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace taskrel {

void configure_logging(int rank, bool verbose, bool quiet) {
  auto logger = spdlog::stderr_color_mt(fmt::format("rank{}", rank));
  logger->set_pattern(fmt::format("[taskrel rank {}] %^%l%$: %v", rank));
  if (quiet) {
    logger->set_level(spdlog::level::warn);
  } else if (verbose) {
    logger->set_level(spdlog::level::debug);
  } else {
    logger->set_level(rank == 0 ? spdlog::level::info : spdlog::level::warn);
  }
  spdlog::set_default_logger(logger);
}

}  // namespace taskrel
