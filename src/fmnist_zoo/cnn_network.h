// Internal to src/fmnist_zoo: the LibTorch side of CnnEncoder, shared by
// cnn_encoder.cpp and finetune.cpp only (it pulls in <torch/torch.h>, which
// costs ~13 s per translation unit; no other file may include it).
#pragma once

#include <torch/torch.h>

#include "fmnist_zoo/cnn_encoder.h"

namespace taskrel::fmnist_zoo {

struct CnnBodyImpl : torch::nn::Module {
  explicit CnnBodyImpl(int width);
  torch::Tensor forward(torch::Tensor images);  // (n, 1, 28, 28) -> (n, 64)
  int width;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear embedding{nullptr};
};
TORCH_MODULE(CnnBody);

struct CnnEncoder::Network {
  CnnBody body;
};

// Images of a split as a (n, 1, 28, 28) tensor, normalised with the
// Fashion-MNIST pixel mean and std; labels as int64.
torch::Tensor images_tensor(const ImageSplit& split);
torch::Tensor labels_tensor(const ImageSplit& split);

// Minibatch Adam over body + head on cross-entropy. The batch order comes
// from `seed` alone.
void train_classifier(CnnBody& body, torch::nn::Linear& head, const ImageSplit& train, const TrainingBudget& budget,
                      std::uint64_t seed, const StepCallback& on_step);

// Accuracy of head(body(x)) on a split.
double classifier_accuracy(CnnBody& body, torch::nn::Linear& head, const ImageSplit& test);

}  // namespace taskrel::fmnist_zoo
