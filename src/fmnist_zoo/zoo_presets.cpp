// Preset contents. The encoders differ in source task, width and training
// length so that their fine-tuned accuracies spread; the fine-tuning budget is
// deliberately small (two passes over the target's train split, the encoder at a tenth of the head's learning rate), because with a
// long budget every encoder converges to the same accuracy and the starting
// point -- what task-relatedness is about -- stops mattering.
#include "fmnist_zoo/zoo_presets.h"

#include "core/error.h"

namespace taskrel::fmnist_zoo {
namespace {

EncoderRecipe recipe(std::string name, std::string description, std::string source, int width, std::int64_t images,
                     double epochs) {
  EncoderRecipe r;
  r.name = std::move(name);
  r.description = std::move(description);
  r.source_task = std::move(source);
  r.width = width;
  r.source_images = images;
  r.training.epochs = epochs;
  r.training.batch_size = 64;
  r.training.learning_rate = 1e-3;
  return r;
}

// Two passes, the encoder at a tenth of the head's rate: see the top of this file.
TrainingBudget finetune_budget() {
  TrainingBudget budget;
  budget.epochs = 2;
  budget.batch_size = 32;
  budget.learning_rate = 1e-3;
  budget.encoder_learning_rate = 1e-4;
  return budget;
}

ZooPreset default_preset() {
  ZooPreset p;
  p.name = "default";
  p.targets = {"coarse4", "footwear3", "tops4", "rotated", "inverted", "blurred", "noisy", "zoomed_out"};
  p.train_images = 1000;
  p.test_images = 1000;
  p.encoders = {
      recipe("untrained", "random initialisation", "none", 8, 0, 0),
      recipe("fmnist10_short", "10 classes, a fifth of an epoch", "fmnist10", 8, 6000, 0.2),
      recipe("fmnist10_medium", "10 classes, 1 epoch", "fmnist10", 8, 6000, 1),
      recipe("fmnist10_long", "10 classes, 3 epochs", "fmnist10", 8, 6000, 3),
      recipe("fmnist10_narrow", "10 classes, width 4, 2 epochs", "fmnist10", 4, 6000, 2),
      recipe("fmnist10_wide", "10 classes, width 16, 1 epoch", "fmnist10", 16, 6000, 1),
      recipe("rotated_source", "10 classes on rotated images, 2 epochs", "rotated", 8, 6000, 2),
      recipe("coarse4_wide", "4 coarse groups, width 16, 1 epoch", "coarse4", 16, 6000, 1),
      recipe("tops4_source", "tops only (4 classes), 2 epochs", "tops4", 8, 3000, 2),
      recipe("footwear3_source", "footwear only (3 classes), 2 epochs", "footwear3", 8, 3000, 2),
  };
  p.finetune = finetune_budget();
  p.finetune_repeats = 3;
  return p;
}

EncoderRecipe with(Architecture architecture, EncoderRecipe r) {
  r.architecture = architecture;
  return r;
}

// Nothing shared with the default zoo but the reference task and the
// fine-tuning recipe: its targets, architectures, sources and names differ.
ZooPreset second_preset() {
  ZooPreset p;
  p.name = "second";
  p.targets = {"upper5", "casual4", "warmth3", "parity2", "flipped", "shifted", "low_contrast"};
  p.train_images = 1000;
  p.test_images = 1000;
  p.embedding_dim = 128;
  const auto deep = Architecture::kDeepCnn;
  const auto mlp = Architecture::kMlp;
  const auto cnn = Architecture::kCnn;
  p.encoders = {
      with(deep, recipe("deep_untrained", "deeper CNN, random initialisation", "none", 8, 0, 0)),
      with(mlp, recipe("mlp_fmnist10", "MLP, 10 classes, 2 epochs", "fmnist10", 8, 6000, 2)),
      with(mlp, recipe("mlp_short", "MLP, 10 classes, a third of an epoch", "fmnist10", 8, 6000, 0.3)),
      with(deep, recipe("deep_fmnist10", "deeper CNN, 10 classes, 1 epoch", "fmnist10", 8, 6000, 1)),
      with(deep, recipe("deep_wide", "deeper CNN, width 16, 10 classes, 2 epochs", "fmnist10", 16, 6000, 2)),
      with(cnn, recipe("cnn_flipped", "CNN on upside-down images, 2 epochs", "flipped", 8, 6000, 2)),
      with(deep, recipe("deep_upper5", "deeper CNN on upper-body garments (5 classes), 2 epochs", "upper5", 8, 3000, 2)),
      with(mlp, recipe("mlp_casual4", "MLP on casual4 (4 classes), 2 epochs", "casual4", 8, 3000, 2)),
      with(cnn, recipe("cnn_shifted", "CNN, width 12, on shifted images, 1 epoch", "shifted", 12, 6000, 1)),
      with(deep, recipe("deep_warmth3", "deeper CNN on 3 warmth groups, 1 epoch", "warmth3", 8, 6000, 1)),
  };
  p.finetune = finetune_budget();
  p.finetune_repeats = 3;
  return p;
}

ZooPreset small_preset() {
  ZooPreset p;
  p.name = "small";
  p.targets = {"coarse4", "footwear3", "rotated", "noisy"};
  p.train_images = 500;
  p.test_images = 300;
  p.encoders = {
      recipe("untrained", "random initialisation", "none", 8, 0, 0),
      recipe("fmnist10", "10 classes, 1 epoch", "fmnist10", 8, 2000, 1),
      recipe("fmnist10_narrow", "10 classes, width 4, 1 epoch", "fmnist10", 4, 2000, 1),
      recipe("footwear3_source", "footwear only (3 classes), 1 epoch", "footwear3", 8, 1000, 1),
  };
  p.finetune = finetune_budget();
  return p;
}

}  // namespace

ZooPreset zoo_preset(const std::string& name) {
  if (name == "default") return default_preset();
  if (name == "small") return small_preset();
  if (name == "second") return second_preset();
  throw InputError(fmt::format("unknown zoo preset '{}' (known: default, small, second)", name));
}

}  // namespace taskrel::fmnist_zoo
