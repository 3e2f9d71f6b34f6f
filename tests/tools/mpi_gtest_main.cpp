// GoogleTest main for taskrel tests: owns MPI's lifetime (the tests may run as
// a singleton or under mpiexec) and keeps GoogleTest's output to rank 0 so a
// parallel run prints one report. A failure on any rank fails the process.
#include <gtest/gtest.h>
#include <mpi.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int local_failed = RUN_ALL_TESTS();
  int any_failed = 0;
  MPI_Allreduce(&local_failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank != 0 && local_failed) {
    std::fprintf(stderr, "rank %d: tests failed\n", rank);
  }
  MPI_Finalize();
  return any_failed ? 1 : 0;
}
