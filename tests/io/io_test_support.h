// Helpers for the storage tests: a per-test temp directory, running the
// fixture script with the test Python (TASKREL_TEST_PYTHON), and asserting
// that an InputError's message contains the expected pieces.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>
#include <vector>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace taskrel::io::testing {

inline std::string fixture_script() { return std::string(TASKREL_IO_TEST_DIR) + "/store_fixtures.py"; }

inline std::string test_python() {
  const char* python = std::getenv("TASKREL_TEST_PYTHON");
  return python != nullptr ? python : "/usr/bin/python3";
}

// Removes the test directories when the test program exits (rank 0 made them).
struct TempDirs {
  std::vector<std::string> paths;
  ~TempDirs() {
    std::error_code ignored;
    for (const auto& path : paths) std::filesystem::remove_all(path, ignored);
  }
};

// A fresh directory under /tmp, the same on every rank (made on rank 0),
// removed at exit.
inline std::string make_temp_dir() {
  static TempDirs made;
  char name[256] = "/tmp/taskrel_io_test_XXXXXX";
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    if (mkdtemp(name) == nullptr) std::abort();
    made.paths.push_back(name);
  }
  MPI_Bcast(name, sizeof name, MPI_CHAR, 0, MPI_COMM_WORLD);
  return name;
}

// Runs `store_fixtures.py command target` on rank 0; all ranks wait for it.
inline int run_fixture(const std::string& command, const std::string& target) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int status = 0;
  if (rank == 0) {
    const std::string line = test_python() + " " + fixture_script() + " " + command + " '" + target + "'";
    status = std::system(line.c_str());
  }
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return status;
}

// Runs `statement`, which must throw InputError whose message contains every piece.
template <typename Statement>
void expect_input_error(Statement statement, std::initializer_list<std::string> pieces) {
  try {
    statement();
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    for (const auto& piece : pieces) EXPECT_NE(message.find(piece), std::string::npos) << message << "\n  lacks: " << piece;
  }
}

}  // namespace taskrel::io::testing
