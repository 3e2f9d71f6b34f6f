// Internal to src/fmnist_zoo: the LibTorch side of CnnEncoder, shared by
// cnn_encoder.cpp and finetune.cpp only (it pulls in <torch/torch.h>, which
// costs ~13 s per translation unit; no other file may include it).
#pragma once

#include <torch/torch.h>

#include "fmnist_zoo/cnn_encoder.h"

namespace taskrel::fmnist_zoo {

// The encoder network of any architecture (cnn_encoder.h). The modules of
// `cnn` are registered first and alone, so its weights and their seeded
// initialisation are those of the original single-architecture zoo.
struct CnnBodyImpl : torch::nn::Module {
  CnnBodyImpl(int width, Architecture architecture, int embedding_dim);
  torch::Tensor forward(torch::Tensor images);  // (n, 1, 28, 28) -> (n, embedding_dim)
  int width;
  Architecture architecture;
  int embedding_dim;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
  torch::nn::Linear hidden1{nullptr}, hidden2{nullptr};
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
