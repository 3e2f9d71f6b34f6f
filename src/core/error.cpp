#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace taskrel {

void abort_on_broken_invariant(const char* condition, const char* file, int line,
                               const std::string& message) {
  std::fprintf(stderr, "taskrel: internal error at %s:%d: invariant '%s' failed%s%s\n", file, line,
               condition, message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace taskrel
