// Task definitions and their deterministic image transformations. No LibTorch
// here: the transformations are a few loops over 28 x 28 floats, and keeping
// them in plain C++ makes them exact and testable without the heavy headers.
#include "fmnist_zoo/fashion_tasks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/seed_mix.h"

namespace taskrel::fmnist_zoo {
namespace {

const std::vector<std::string> kFashionClasses = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                                  "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
const std::vector<int> kIdentity = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

std::vector<TaskDefinition> build_tasks() {
  std::vector<TaskDefinition> tasks;
  tasks.push_back({"fmnist10", "the standard 10-class Fashion-MNIST task (reference)", kIdentity, kFashionClasses,
                   ImageTransform::kNone});
  tasks.push_back({"coarse4", "4 coarse groups: tops / bottoms and dresses / footwear / bags",
                   {0, 1, 0, 1, 0, 2, 0, 2, 3, 2},
                   {"tops", "bottoms and dresses", "footwear", "bags"},
                   ImageTransform::kNone});
  tasks.push_back({"footwear3", "footwear only: sandal / sneaker / ankle boot",
                   {-1, -1, -1, -1, -1, 0, -1, 1, -1, 2},
                   {"sandal", "sneaker", "ankle boot"},
                   ImageTransform::kNone});
  tasks.push_back({"tops4", "tops only: t-shirt / pullover / coat / shirt (the hardest classes)",
                   {0, -1, 1, -1, 2, -1, 3, -1, -1, -1},
                   {"t-shirt/top", "pullover", "coat", "shirt"},
                   ImageTransform::kNone});
  tasks.push_back({"rotated", "10 classes, images rotated by 90 degrees", kIdentity, kFashionClasses,
                   ImageTransform::kRotate90});
  tasks.push_back({"inverted", "10 classes, inverted intensities", kIdentity, kFashionClasses,
                   ImageTransform::kInvert});
  tasks.push_back({"blurred", "10 classes, Gaussian blur (sigma 1.5 pixels)", kIdentity, kFashionClasses,
                   ImageTransform::kBlur});
  tasks.push_back({"noisy", "10 classes, additive Gaussian noise (sigma 0.4), clipped to [0, 1]", kIdentity,
                   kFashionClasses, ImageTransform::kNoise});
  tasks.push_back({"zoomed_out", "10 classes, images shrunk to half size in the centre", kIdentity, kFashionClasses,
                   ImageTransform::kZoomOut});
  // The second zoo's targets (zoo_presets.cpp), none of them shared with the first's.
  tasks.push_back({"upper5", "upper-body garments and dresses: t-shirt / pullover / dress / coat / shirt",
                   {0, -1, 1, 2, 3, -1, 4, -1, -1, -1},
                   {"t-shirt/top", "pullover", "dress", "coat", "shirt"},
                   ImageTransform::kNone});
  tasks.push_back({"casual4", "trouser / dress / sneaker / bag", {-1, 0, -1, 1, -1, -1, -1, 2, 3, -1},
                   {"trouser", "dress", "sneaker", "bag"}, ImageTransform::kNone});
  tasks.push_back({"warmth3", "3 groups by warmth: light (t-shirt, dress, sandal, shirt) / warm (pullover, coat, "
                   "ankle boot) / neutral (trouser, sneaker, bag)",
                   {0, 2, 1, 0, 1, 0, 0, 2, 2, 1},
                   {"light", "warm", "neutral"},
                   ImageTransform::kNone});
  tasks.push_back({"parity2", "2 groups with no visual meaning: even / odd Fashion-MNIST class index",
                   {0, 1, 0, 1, 0, 1, 0, 1, 0, 1},
                   {"even class", "odd class"},
                   ImageTransform::kNone});
  tasks.push_back({"flipped", "10 classes, images upside down", kIdentity, kFashionClasses,
                   ImageTransform::kFlipVertical});
  tasks.push_back({"shifted", "10 classes, images moved 5 pixels right and 4 down (background fills in)", kIdentity,
                   kFashionClasses, ImageTransform::kShift});
  tasks.push_back({"low_contrast", "10 classes, contrast reduced to 30 % around mid-grey", kIdentity,
                   kFashionClasses, ImageTransform::kLowContrast});
  return tasks;
}

std::uint64_t mix_string(std::uint64_t seed, const std::string& text) {
  std::uint64_t h = splitmix64(seed);
  for (unsigned char c : text) h = splitmix64(h ^ c);
  return h;
}

// Uniform integer in [0, bound) from a 64-bit generator; the tiny modulo bias
// is irrelevant at these sizes and keeps the result library-independent.
std::uint64_t below(std::mt19937_64& rng, std::uint64_t bound) { return rng() % bound; }

// Standard normal by Box-Muller from the raw generator (library-independent).
float normal(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0;
  const double u2 = (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void rotate90(float* image) {
  std::array<float, kImagePixels> copy;
  std::copy(image, image + kImagePixels, copy.begin());
  // Counter-clockwise: new (r, c) = old (c, side - 1 - r).
  for (int r = 0; r < kImageSide; ++r)
    for (int c = 0; c < kImageSide; ++c) image[r * kImageSide + c] = copy[c * kImageSide + (kImageSide - 1 - r)];
}

void blur(float* image) {
  constexpr int kRadius = 3;
  constexpr double kSigma = 1.5;
  std::array<double, 2 * kRadius + 1> kernel;
  double total = 0;
  for (int i = -kRadius; i <= kRadius; ++i) total += kernel[i + kRadius] = std::exp(-i * i / (2 * kSigma * kSigma));
  for (double& k : kernel) k /= total;
  // Separable, zero padding (the background of Fashion-MNIST is zero).
  std::array<double, kImagePixels> rows{};
  for (int r = 0; r < kImageSide; ++r)
    for (int c = 0; c < kImageSide; ++c) {
      double sum = 0;
      for (int i = -kRadius; i <= kRadius; ++i) {
        const int cc = c + i;
        if (cc >= 0 && cc < kImageSide) sum += kernel[i + kRadius] * image[r * kImageSide + cc];
      }
      rows[r * kImageSide + c] = sum;
    }
  for (int r = 0; r < kImageSide; ++r)
    for (int c = 0; c < kImageSide; ++c) {
      double sum = 0;
      for (int i = -kRadius; i <= kRadius; ++i) {
        const int rr = r + i;
        if (rr >= 0 && rr < kImageSide) sum += kernel[i + kRadius] * rows[rr * kImageSide + c];
      }
      image[r * kImageSide + c] = static_cast<float>(sum);
    }
}

void flip_vertical(float* image) {
  for (int r = 0; r < kImageSide / 2; ++r)
    for (int c = 0; c < kImageSide; ++c) std::swap(image[r * kImageSide + c], image[(kImageSide - 1 - r) * kImageSide + c]);
}

void shift(float* image) {
  constexpr int kRight = 5, kDown = 4;
  std::array<float, kImagePixels> out{};
  for (int r = kDown; r < kImageSide; ++r)
    for (int c = kRight; c < kImageSide; ++c) out[r * kImageSide + c] = image[(r - kDown) * kImageSide + c - kRight];
  std::copy(out.begin(), out.end(), image);
}

void zoom_out(float* image) {
  // Half size: each output pixel of the central 14 x 14 is the mean of a 2 x 2
  // input block (exact box downsampling), the border becomes background.
  std::array<float, kImagePixels> out{};
  constexpr int kHalf = kImageSide / 2;
  constexpr int kOffset = (kImageSide - kHalf) / 2;
  for (int r = 0; r < kHalf; ++r)
    for (int c = 0; c < kHalf; ++c) {
      const float* block = image + (2 * r) * kImageSide + 2 * c;
      out[(r + kOffset) * kImageSide + c + kOffset] =
          0.25f * (block[0] + block[1] + block[kImageSide] + block[kImageSide + 1]);
    }
  std::copy(out.begin(), out.end(), image);
}

}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, const std::string& purpose) { return mix_string(seed, purpose); }

const std::vector<TaskDefinition>& fashion_tasks() {
  static const std::vector<TaskDefinition> tasks = build_tasks();
  return tasks;
}

const TaskDefinition& fashion_task(const std::string& name) {
  for (const auto& task : fashion_tasks())
    if (task.name == name) return task;
  throw InputError(fmt::format("no bundled Fashion-MNIST task named '{}'", name));
}

const char* transform_name(ImageTransform transform) {
  switch (transform) {
    case ImageTransform::kNone: return "none";
    case ImageTransform::kRotate90: return "rotate90";
    case ImageTransform::kInvert: return "invert";
    case ImageTransform::kBlur: return "gaussian_blur";
    case ImageTransform::kNoise: return "gaussian_noise";
    case ImageTransform::kZoomOut: return "zoom_out";
    case ImageTransform::kFlipVertical: return "flip_vertical";
    case ImageTransform::kShift: return "shift";
    case ImageTransform::kLowContrast: return "low_contrast";
  }
  return "?";
}

void apply_transform(ImageTransform transform, float* image, std::uint64_t noise_seed) {
  switch (transform) {
    case ImageTransform::kNone: return;
    case ImageTransform::kRotate90: rotate90(image); return;
    case ImageTransform::kInvert:
      for (int i = 0; i < kImagePixels; ++i) image[i] = 1.0f - image[i];
      return;
    case ImageTransform::kBlur: blur(image); return;
    case ImageTransform::kNoise: {
      std::mt19937_64 rng(noise_seed);
      for (int i = 0; i < kImagePixels; ++i) image[i] = std::clamp(image[i] + 0.4f * normal(rng), 0.0f, 1.0f);
      return;
    }
    case ImageTransform::kZoomOut: zoom_out(image); return;
    case ImageTransform::kFlipVertical: flip_vertical(image); return;
    case ImageTransform::kShift: shift(image); return;
    case ImageTransform::kLowContrast:
      for (int i = 0; i < kImagePixels; ++i) image[i] = 0.35f + 0.3f * image[i];
      return;
  }
}

ImageSplit make_split(const io::IdxImageSet& source, const TaskDefinition& task, std::int64_t count,
                      std::uint64_t seed, const std::string& salt) {
  TASKREL_ASSERT(source.rows == kImageSide && source.cols == kImageSide, "images are {}x{}", source.rows, source.cols);
  const int classes = task.num_classes();
  if (count < classes)
    throw InputError(fmt::format("task {}: a split of {} images cannot hold its {} classes", task.name, count, classes));
  std::vector<std::vector<std::int64_t>> pool(classes);
  for (std::int64_t i = 0; i < source.count; ++i) {
    const int original = source.labels[i];
    if (original >= static_cast<int>(task.label_of_class.size()))
      throw InputError(fmt::format("Fashion-MNIST label {} at item {} is out of range 0..9", original, i));
    const int label = task.label_of_class[original];
    if (label >= 0) pool[label].push_back(i);
  }
  std::mt19937_64 rng(mix_string(seed, task.name + "/" + salt));
  std::vector<std::pair<std::int64_t, std::int64_t>> chosen;  // (source index, label)
  for (int label = 0; label < classes; ++label) {
    const std::int64_t need = count / classes + (label < count % classes ? 1 : 0);
    auto& items = pool[label];
    if (static_cast<std::int64_t>(items.size()) < need)
      throw InputError(fmt::format("task {}: class '{}' has {} images in the source split but {} are needed",
                                   task.name, task.class_names[label], items.size(), need));
    // Partial Fisher-Yates: the first `need` entries become a uniform draw.
    for (std::int64_t i = 0; i < need; ++i) {
      const std::int64_t j = i + static_cast<std::int64_t>(below(rng, items.size() - i));
      std::swap(items[i], items[j]);
      chosen.emplace_back(items[i], label);
    }
  }
  // Shuffle so classes are interleaved (training reads the split in order).
  for (std::int64_t i = static_cast<std::int64_t>(chosen.size()) - 1; i > 0; --i)
    std::swap(chosen[i], chosen[below(rng, i + 1)]);

  ImageSplit split;
  split.count = count;
  split.pixels.resize(static_cast<std::size_t>(count) * kImagePixels);
  split.labels.resize(count);
  for (std::int64_t n = 0; n < count; ++n) {
    const auto [index, label] = chosen[n];
    const std::uint8_t* in = source.pixels.data() + index * kImagePixels;
    float* out = split.pixels.data() + n * kImagePixels;
    for (int p = 0; p < kImagePixels; ++p) out[p] = in[p] / 255.0f;
    apply_transform(task.transform, out, rng());
    split.labels[n] = label;
  }
  return split;
}

}  // namespace taskrel::fmnist_zoo
