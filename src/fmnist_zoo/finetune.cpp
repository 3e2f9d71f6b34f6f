// End-to-end fine-tuning, the ground truth the relatedness should predict: a
// copy of the encoder and a new linear head trained together with a small
// fixed budget, so that where the encoder starts from still matters (as in
// the paper's setting, where fine-tuning does not run to convergence).
#include "fmnist_zoo/cnn_network.h"

namespace taskrel::fmnist_zoo {

double CnnEncoder::finetune_accuracy(const ImageSplit& train, const ImageSplit& test, int num_classes,
                                     const TrainingBudget& budget, std::uint64_t seed) const {
  CnnBody copy(network_->body->width, network_->body->architecture, network_->body->embedding_dim);
  {
    torch::NoGradGuard no_grad;
    const auto source = network_->body->parameters();
    auto target = copy->parameters();
    for (std::size_t i = 0; i < source.size(); ++i) target[i].copy_(source[i]);
  }
  torch::manual_seed(seed);
  torch::nn::Linear head(embedding_dim(), num_classes);
  train_classifier(copy, head, train, budget, seed, {});
  return classifier_accuracy(copy, head, test);
}

}  // namespace taskrel::fmnist_zoo
