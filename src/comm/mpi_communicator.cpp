#include "comm/mpi_communicator.h"

#include <climits>

#include "comm/mpi_check.h"
#include "core/error.h"

namespace taskrel {

int world_rank_for_messages() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return 0;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) text[0] = '\0';
  throw RuntimeError(fmt::format("MPI call {} failed at {}:{} on rank {}: {}", call, file, line,
                                 world_rank_for_messages(), text));
}

namespace {

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  TASKREL_ASSERT(false, "unknown reduce op");
  return MPI_SUM;
}

// MPI counts are int: large vectors go in int-sized pieces.
template <typename T>
void all_reduce_chunked(MPI_Comm comm, T* data, std::size_t count, MPI_Datatype type, MPI_Op op) {
  constexpr std::size_t kMaxChunk = static_cast<std::size_t>(INT_MAX) / 2;
  for (std::size_t offset = 0; offset < count; offset += kMaxChunk) {
    const int chunk = static_cast<int>(std::min(kMaxChunk, count - offset));
    TASKREL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + offset, chunk, type, op, comm));
  }
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : MpiCommunicator(comm, false) {}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
  TASKREL_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  TASKREL_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  TASKREL_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

MpiCommunicator::MpiCommunicator(MpiCommunicator&& other) noexcept
    : comm_(other.comm_), owned_(other.owned_), rank_(other.rank_), size_(other.size_) {
  other.owned_ = false;
  other.comm_ = MPI_COMM_NULL;
}

MpiCommunicator::~MpiCommunicator() {
  // Freeing a communicator is local; skipped after MPI_Finalize (never
  // finalise in a destructor: main() owns MPI's lifetime).
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owned_ && !finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

MpiCommunicator MpiCommunicator::world() { return MpiCommunicator(MPI_COMM_WORLD, false); }

void MpiCommunicator::all_reduce(double* data, std::size_t count, ReduceOp op) {
  all_reduce_chunked(comm_, data, count, MPI_DOUBLE, to_mpi(op));
}

void MpiCommunicator::all_reduce(float* data, std::size_t count, ReduceOp op) {
  all_reduce_chunked(comm_, data, count, MPI_FLOAT, to_mpi(op));
}

void MpiCommunicator::all_reduce(long long* data, std::size_t count, ReduceOp op) {
  all_reduce_chunked(comm_, data, count, MPI_LONG_LONG, to_mpi(op));
}

void MpiCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  constexpr std::size_t kMaxChunk = static_cast<std::size_t>(INT_MAX) / 2;
  auto* bytes_ptr = static_cast<char*>(data);
  for (std::size_t offset = 0; offset < bytes; offset += kMaxChunk) {
    const int chunk = static_cast<int>(std::min(kMaxChunk, bytes - offset));
    TASKREL_MPI_CHECK(MPI_Bcast(bytes_ptr + offset, chunk, MPI_BYTE, root, comm_));
  }
}

void MpiCommunicator::barrier() { TASKREL_MPI_CHECK(MPI_Barrier(comm_)); }

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) const {
  MPI_Comm child = MPI_COMM_NULL;
  TASKREL_MPI_CHECK(MPI_Comm_split(comm_, color, key, &child));
  return std::unique_ptr<Communicator>(new MpiCommunicator(child, true));
}

}  // namespace taskrel
