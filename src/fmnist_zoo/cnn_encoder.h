// Small image encoders for the bundled zoos, trained with LibTorch (which
// stays inside the .cpp files). Architectures, for width w and embedding
// dimension e (64 in the default zoo):
//   cnn:      conv3x3(1 -> w) ReLU maxpool2, conv3x3(w -> 2w) ReLU maxpool2,
//             conv3x3(2w -> 2w) ReLU, flatten (2w * 7 * 7), linear -> e;
//   deep_cnn: conv3x3(1 -> w) ReLU, conv3x3(w -> w) ReLU maxpool2,
//             conv3x3(w -> 2w) ReLU, conv3x3(2w -> 2w) ReLU maxpool2,
//             conv3x3(2w -> 2w) ReLU, flatten, linear -> e;
//   mlp:      flatten (784), linear -> 32w ReLU, linear -> 16w ReLU, linear -> e.
// Classification (source training, fine-tuning) puts a linear head on the
// embedding. Everything is deterministic for a seed and a thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "fmnist_zoo/fashion_tasks.h"

namespace taskrel::fmnist_zoo {

inline constexpr int kEmbeddingDim = 64;  // the default zoo's

enum class Architecture { kCnn, kDeepCnn, kMlp };

// One pass of minibatch Adam over a split (or a fraction of one).
struct TrainingBudget {
  double epochs = 1.0;  // may be fractional: ceil(epochs * n / batch) steps
  std::int64_t batch_size = 64;
  double learning_rate = 1e-3;
  // The encoder's own learning rate when it is below learning_rate (0: the
  // same). Fine-tuning uses a smaller one, as is usual, so the new head
  // settles before the features move far from where the encoder started.
  double encoder_learning_rate = 0;
};

// Called after every optimiser step with (step, total steps).
using StepCallback = std::function<void(std::int64_t, std::int64_t)>;

// LibTorch's intra-op threads (0: every core). Call before any training.
void set_torch_threads(int threads);

class CnnEncoder {
 public:
  // Random initialisation from `seed` (this is the "untrained" encoder).
  CnnEncoder(int width, std::uint64_t seed, Architecture architecture = Architecture::kCnn,
             int embedding_dim = kEmbeddingDim);
  ~CnnEncoder();
  CnnEncoder(CnnEncoder&&) noexcept;
  CnnEncoder& operator=(CnnEncoder&&) noexcept;

  int width() const;
  int embedding_dim() const;

  // Loads weights saved by save() into an encoder of the given shape;
  // InputError naming the file when it cannot be read or does not fit.
  static CnnEncoder load(const std::string& path, int width, Architecture architecture = Architecture::kCnn,
                         int embedding_dim = kEmbeddingDim);
  // Writes to a temporary name and renames, so a killed run never leaves a
  // half-written file under `path`.
  void save(const std::string& path) const;

  // Trains the encoder together with a temporary linear head on `train`;
  // returns the head's accuracy on `test` (the source accuracy). The head is
  // discarded: only the encoder is kept.
  double train_on_source(const ImageSplit& train, const ImageSplit& test, int num_classes, const TrainingBudget& budget,
                         std::uint64_t seed, const StepCallback& on_step = {});

  // Embeddings of every image of `split` (count x embedding_dim(), row-major).
  std::vector<float> embed(const ImageSplit& split) const;

  // End-to-end fine-tuning (finetune.cpp): a copy of this encoder plus a new
  // linear head, trained together on `train` with the fixed budget and seed;
  // returns the accuracy on `test`. This encoder is left unchanged.
  double finetune_accuracy(const ImageSplit& train, const ImageSplit& test, int num_classes,
                           const TrainingBudget& budget, std::uint64_t seed) const;

  struct Network;  // LibTorch module, defined in cnn_network.h

 private:
  explicit CnnEncoder(std::unique_ptr<Network> network);
  std::unique_ptr<Network> network_;
};

}  // namespace taskrel::fmnist_zoo

namespace taskrel {

template <>
struct EnumNames<fmnist_zoo::Architecture> {
  static constexpr const char* what = "encoder architecture";
  static constexpr EnumName<fmnist_zoo::Architecture> names[] = {{fmnist_zoo::Architecture::kCnn, "cnn"},
                                                                 {fmnist_zoo::Architecture::kDeepCnn, "deep_cnn"},
                                                                 {fmnist_zoo::Architecture::kMlp, "mlp"}};
};

}  // namespace taskrel
