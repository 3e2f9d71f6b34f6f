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
  throw InputError(fmt::format("unknown zoo preset '{}' (known: default, small)", name));
}

}  // namespace taskrel::fmnist_zoo
