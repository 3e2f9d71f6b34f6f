// The bundled zoos. `default` is the real-data benchmark (10 CNN encoders x
// 8 targets, 64-d, a few minutes on 2 cores); `small` is its CI variant (4
// encoders x 4 targets, under a minute); `second` is an independent zoo for
// checking that no default is tuned to the first: other architectures (MLPs,
// deeper CNNs), source tasks, widths and seeds, other targets (class
// subsets, label groupings, image transforms) and 128-d embeddings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fmnist_zoo/cnn_encoder.h"

namespace taskrel::fmnist_zoo {

struct EncoderRecipe {
  std::string name;
  std::string description;
  std::string source_task;      // a task of fashion_tasks(); ignored when untrained
  Architecture architecture = Architecture::kCnn;
  int width = 16;               // channels of the first convolution (mlp: hidden widths 32w, 16w)
  std::int64_t source_images = 0;  // training images of the source task
  TrainingBudget training;      // epochs = 0: untrained (random initialisation)
  bool untrained() const { return training.epochs <= 0; }
};

struct ZooPreset {
  std::string name;
  std::string reference = "fmnist10";
  std::vector<std::string> targets;
  std::int64_t train_images = 0;  // per task, from Fashion-MNIST train
  std::int64_t test_images = 0;   // per task, from Fashion-MNIST t10k
  std::vector<EncoderRecipe> encoders;
  int embedding_dim = kEmbeddingDim;
  TrainingBudget finetune;        // the same fixed budget for every (encoder, target)
  // Fine-tunes per (encoder, target), each with its own seed (the same seeds
  // for every encoder); the accuracy is their mean. One fine-tune of a small
  // budget moves by a few points with the seed, as much as two neighbouring
  // encoders differ: averaging keeps that noise out of the ground truth.
  int finetune_repeats = 1;
};

// InputError for an unknown name (the message lists the known ones).
ZooPreset zoo_preset(const std::string& name);

}  // namespace taskrel::fmnist_zoo
