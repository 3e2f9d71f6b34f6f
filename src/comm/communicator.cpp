#include "comm/communicator.h"

namespace taskrel {

double Communicator::all_reduce_sum(double value) {
  all_reduce(&value, 1, ReduceOp::kSum);
  return value;
}

double Communicator::all_reduce_max(double value) {
  all_reduce(&value, 1, ReduceOp::kMax);
  return value;
}

long long Communicator::all_reduce_sum(long long value) {
  all_reduce(&value, 1, ReduceOp::kSum);
  return value;
}

void Communicator::broadcast_string(std::string& text, int root) {
  long long length = static_cast<long long>(text.size());
  broadcast(&length, sizeof(length), root);
  text.resize(static_cast<std::size_t>(length));
  if (length > 0) broadcast(text.data(), text.size(), root);
}

}  // namespace taskrel
