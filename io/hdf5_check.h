// Checked HDF5 calls and owning handles for the embedding store.
//
// Every HDF5 call goes through TASKREL_HDF5_CHECK: a negative return (HDF5's
// failure value for both hid_t and herr_t) becomes a RuntimeError naming the
// call, file:line, the world rank and the innermost message on HDF5's error
// stack. Input problems are detected *before* the failing call where
// possible and reported as InputError by the store itself.
// HDF5's automatic stack printing is silenced once (silence_hdf5_errors) so
// users see one taskrel message, not a page of HDF5 internals.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

namespace taskrel::io {

// Turns off HDF5's automatic printing of its error stack (idempotent).
void silence_hdf5_errors();

// The innermost description on HDF5's default error stack ("" if empty).
std::string last_hdf5_error();

[[noreturn]] void throw_hdf5_error(const char* call, const char* file, int line);

// An owned HDF5 identifier, closed with the matching H5?close on destruction.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hid() { reset(); }
  Hid(Hid&& other) noexcept : id_(std::exchange(other.id_, -1)), closer_(other.closer_) {}
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      closer_ = other.closer_;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;

  hid_t get() const { return id_; }
  // Gives up ownership, for a close whose result must be checked.
  hid_t release() { return std::exchange(id_, -1); }
  explicit operator bool() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

}  // namespace taskrel::io

// Evaluates an HDF5 call once; throws RuntimeError when it returns < 0.
// Yields the call's value, so `hid_t id = TASKREL_HDF5_CHECK(H5Dopen2(...));`.
#define TASKREL_HDF5_CHECK(call)                                                   \
  ([&]() {                                                                         \
    auto taskrel_hdf5_result_ = (call);                                            \
    if (taskrel_hdf5_result_ < 0)                                                  \
      ::taskrel::io::throw_hdf5_error(#call, __FILE__, __LINE__);                  \
    return taskrel_hdf5_result_;                                                   \
  }())
