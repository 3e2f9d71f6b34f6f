// Logging for taskrel: spdlog to stderr, tagged with the MPI rank so a batch
// log of many ranks stays readable. Only rank 0 logs at info level by
// default; warnings and errors come from every rank.
#pragma once

#include <spdlog/spdlog.h>

namespace taskrel {

// Sets the rank tag and level. Call once after MPI is initialised.
void configure_logging(int rank, bool verbose, bool quiet);

}  // namespace taskrel
