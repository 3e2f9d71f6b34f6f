// The task definitions and image transformations of the bundled zoo, checked
// against properties that follow from their definitions (not against stored
// outputs): four rotations are the identity, inversion is an involution, the
// blur kernel is normalised, zooming out keeps a quarter of the mass, noise
// is seeded, and split draws are stratified, deterministic and seed-dependent.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "fmnist_zoo/fashion_tasks.h"
#include "core/error.h"

namespace {

using namespace taskrel::fmnist_zoo;

std::vector<float> random_image(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> image(kImagePixels, 0.0f);
  // Content away from the border, like Fashion-MNIST.
  for (int r = 4; r < 24; ++r)
    for (int c = 4; c < 24; ++c) image[r * kImageSide + c] = uniform(rng);
  return image;
}

double total(const std::vector<float>& image) { return std::accumulate(image.begin(), image.end(), 0.0); }

TEST(FashionTasks, ReferenceFirstAndAtLeastEightTargets) {
  const auto& tasks = fashion_tasks();
  ASSERT_GE(tasks.size(), 9u);
  EXPECT_EQ(tasks[0].name, "fmnist10");
  std::set<std::string> names;
  for (const auto& task : tasks) {
    names.insert(task.name);
    ASSERT_EQ(task.label_of_class.size(), 10u) << task.name;
    // Every task label is used by at least one Fashion-MNIST class.
    std::set<int> used;
    for (int label : task.label_of_class) {
      EXPECT_LT(label, task.num_classes()) << task.name;
      if (label >= 0) used.insert(label);
    }
    EXPECT_EQ(static_cast<int>(used.size()), task.num_classes()) << task.name;
  }
  EXPECT_EQ(names.size(), tasks.size());
  EXPECT_THROW(fashion_task("nope"), taskrel::InputError);
}

TEST(FashionTasks, FourRotationsAreTheIdentityAndOneIsNot) {
  const auto original = random_image(1);
  auto image = original;
  apply_transform(ImageTransform::kRotate90, image.data(), 0);
  EXPECT_NE(image, original);
  // A quarter turn counter-clockwise moves the top-right pixel to the top-left.
  EXPECT_EQ(image[0 * kImageSide + 0], original[0 * kImageSide + kImageSide - 1]);
  EXPECT_EQ(image[5 * kImageSide + 7], original[7 * kImageSide + kImageSide - 1 - 5]);
  for (int i = 0; i < 3; ++i) apply_transform(ImageTransform::kRotate90, image.data(), 0);
  EXPECT_EQ(image, original);
}

TEST(FashionTasks, InversionIsAnInvolution) {
  const auto original = random_image(2);
  auto image = original;
  apply_transform(ImageTransform::kInvert, image.data(), 0);
  EXPECT_FLOAT_EQ(image[0], 1.0f);
  apply_transform(ImageTransform::kInvert, image.data(), 0);
  for (int i = 0; i < kImagePixels; ++i) EXPECT_NEAR(image[i], original[i], 1e-6);
}

TEST(FashionTasks, BlurKeepsMassAwayFromTheBorderAndSmooths) {
  const auto original = random_image(3);
  auto image = original;
  apply_transform(ImageTransform::kBlur, image.data(), 0);
  EXPECT_NEAR(total(image), total(original), 1e-3 * total(original));  // normalised kernel, no mass lost
  auto roughness = [](const std::vector<float>& x) {
    double sum = 0;
    for (int r = 0; r < kImageSide; ++r)
      for (int c = 1; c < kImageSide; ++c) sum += std::abs(x[r * kImageSide + c] - x[r * kImageSide + c - 1]);
    return sum;
  };
  EXPECT_LT(roughness(image), 0.5 * roughness(original));
}

TEST(FashionTasks, ZoomOutKeepsAQuarterOfTheMassInTheCentre) {
  const auto original = random_image(4);
  auto image = original;
  apply_transform(ImageTransform::kZoomOut, image.data(), 0);
  EXPECT_NEAR(total(image), total(original) / 4, 1e-3);
  for (int r = 0; r < 7; ++r) EXPECT_EQ(image[r * kImageSide + 14], 0.0f);  // border is background
  // Output pixel (7 + r, 7 + c) is the mean of input block (2r, 2c).
  EXPECT_NEAR(image[(7 + 3) * kImageSide + 7 + 4],
              0.25 * (original[6 * kImageSide + 8] + original[6 * kImageSide + 9] + original[7 * kImageSide + 8] +
                      original[7 * kImageSide + 9]),
              1e-6);
}

TEST(FashionTasks, NoiseIsSeededAndClipped) {
  const auto original = random_image(5);
  auto a = original, b = original, c = original;
  apply_transform(ImageTransform::kNoise, a.data(), 11);
  apply_transform(ImageTransform::kNoise, b.data(), 11);
  apply_transform(ImageTransform::kNoise, c.data(), 12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double squared = 0;
  for (int i = 0; i < kImagePixels; ++i) {
    EXPECT_GE(a[i], 0.0f);
    EXPECT_LE(a[i], 1.0f);
    squared += (a[i] - original[i]) * (a[i] - original[i]);
  }
  EXPECT_GT(std::sqrt(squared / kImagePixels), 0.15);  // sigma 0.4 before clipping
}

taskrel::io::IdxImageSet synthetic_source(int per_class) {
  taskrel::io::IdxImageSet set;
  set.rows = set.cols = kImageSide;
  set.count = 10 * per_class;
  set.pixels.resize(static_cast<std::size_t>(set.count) * kImagePixels);
  for (std::int64_t i = 0; i < set.count; ++i) {
    set.labels.push_back(static_cast<std::uint8_t>(i % 10));
    set.pixels[i * kImagePixels] = static_cast<std::uint8_t>(i % 251);     // tags the image
    set.pixels[i * kImagePixels + 1] = static_cast<std::uint8_t>(i % 10);  // and its original class
  }
  return set;
}

TEST(FashionTasks, SplitsAreStratifiedDeterministicAndSeeded) {
  const auto source = synthetic_source(50);
  const TaskDefinition& coarse = fashion_task("coarse4");
  const auto a = make_split(source, coarse, 42, 0, "train");
  const auto b = make_split(source, coarse, 42, 0, "train");
  const auto c = make_split(source, coarse, 42, 1, "train");
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_NE(a.pixels, c.pixels);
  std::vector<int> counts(4, 0);
  for (auto label : a.labels) ++counts[label];
  EXPECT_EQ(counts, (std::vector<int>{11, 11, 10, 10}));  // 42 = 4 x 10 + 2
  // Labels follow the coarse mapping of the drawn image's original class.
  for (std::int64_t n = 0; n < a.count; ++n) {
    const int original = static_cast<int>(std::lround(a.pixels[n * kImagePixels + 1] * 255));
    EXPECT_EQ(coarse.label_of_class[original], a.labels[n]);
  }
}

TEST(FashionTasks, TooFewImagesOfAClassIsAnInputError) {
  const auto source = synthetic_source(3);
  EXPECT_THROW(make_split(source, fashion_task("footwear3"), 30, 0, "train"), taskrel::InputError);
}

}  // namespace
