// The tasks of the bundled Fashion-MNIST zoo. `fmnist10` (the standard
// 10-class task) is the reference and plays ImageNet's role; the targets
// differ from it in classes (subsets), label granularity (coarse groups) and
// domain (image transformations). A task is a relabelling of the ten
// Fashion-MNIST classes (-1: not part of the task) plus one deterministic
// image transformation; its splits are stratified draws from the Fashion-MNIST
// train (train split) and t10k (test split) files, identical for every
// encoder because they depend only on the task, the size and the seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/idx.h"

namespace taskrel::fmnist_zoo {

enum class ImageTransform { kNone, kRotate90, kInvert, kBlur, kNoise, kZoomOut, kFlipVertical, kShift, kLowContrast };

struct TaskDefinition {
  std::string name;
  std::string description;
  std::vector<int> label_of_class;  // Fashion-MNIST class 0..9 -> task label, or -1
  std::vector<std::string> class_names;
  ImageTransform transform = ImageTransform::kNone;
  int num_classes() const { return static_cast<int>(class_names.size()); }
};

inline constexpr int kImageSide = 28;
inline constexpr int kImagePixels = kImageSide * kImageSide;

// Every task: the reference `fmnist10` first, then the targets.
const std::vector<TaskDefinition>& fashion_tasks();
// InputError when there is no task of that name.
const TaskDefinition& fashion_task(const std::string& name);
const char* transform_name(ImageTransform transform);

// Images (count x 28 x 28, values in [0, 1] before the transformation) and
// task labels of one split.
struct ImageSplit {
  std::int64_t count = 0;
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
};

// A stratified draw of `count` images of `task` from `source` (count / K per
// task class, the remainder to the first classes; within a coarse class the
// draw is uniform over its pooled original images), transformed. Which images
// are drawn and the noise added depend only on (task, count, seed, salt).
// InputError when a class has fewer images in `source` than it needs.
ImageSplit make_split(const io::IdxImageSet& source, const TaskDefinition& task, std::int64_t count,
                      std::uint64_t seed, const std::string& salt);

// A seed for one purpose ("finetune/rotated", an encoder's name), derived
// from the user's seed without the standard library's implementation-defined
// hashing, so a zoo is the same on every machine for the same seed.
std::uint64_t derive_seed(std::uint64_t seed, const std::string& purpose);

// The transformation applied to one 28 x 28 image in place (exposed for tests).
void apply_transform(ImageTransform transform, float* image, std::uint64_t noise_seed);

}  // namespace taskrel::fmnist_zoo
