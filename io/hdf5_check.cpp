// See hdf5_check.h.
#include "io/hdf5_check.h"

#include "comm/communicator.h"
#include "core/error.h"

namespace taskrel::io {

void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {
herr_t keep_innermost(unsigned n, const H5E_error2_t* error, void* data) {
  // Walking downward, the first entry is the API call and later ones are
  // deeper; the deepest usually says what actually went wrong.
  auto* message = static_cast<std::string*>(data);
  if (error->desc != nullptr) *message = error->desc;
  if (error->func_name != nullptr) *message = std::string(error->func_name) + ": " + *message;
  (void)n;
  return 0;
}
}  // namespace

std::string last_hdf5_error() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, &message);
  return message;
}

void throw_hdf5_error(const char* call, const char* file, int line) {
  std::string detail = last_hdf5_error();
  throw RuntimeError(fmt::format("HDF5 call {} failed at {}:{} (rank {}){}{}", call, file, line,
                                 world_rank_for_messages(), detail.empty() ? "" : ": ", detail));
}

}  // namespace taskrel::io
