// Two levels of error, as in the codebases we learn from:
//  - InputError: the user's input is bad (file, HDF5 path, job key, flag).
//    Thrown with what / where / why; the command exits with code 2.
//  - TASKREL_ASSERT: an internal invariant broke. That is a bug in taskrel,
//    so it prints file:line and aborts loudly instead of limping on.
// Runtime failures of the environment (an MPI or HDF5 call failing for a
// reason that is not the input) are RuntimeError and exit with code 1.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace taskrel {

// Exit codes of every taskrel command (documented in the README).
enum ExitCode : int {
  kExitSuccess = 0,
  kExitFailure = 1,   // anything that is not the user's fault
  kExitBadInput = 2,  // bad usage or bad input
};

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void abort_on_broken_invariant(const char* condition, const char* file, int line,
                                            const std::string& message);

}  // namespace taskrel

#define TASKREL_ASSERT(condition, ...)                                                    \
  do {                                                                                    \
    if (!(condition))                                                                     \
      ::taskrel::abort_on_broken_invariant(#condition, __FILE__, __LINE__,                \
                                           ::fmt::format("" __VA_ARGS__));                \
  } while (false)
