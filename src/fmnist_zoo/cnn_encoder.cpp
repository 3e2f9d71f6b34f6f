// CnnEncoder: the network, its training on a source task, embeddings and
// (de)serialisation.
#include "fmnist_zoo/cnn_encoder.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "fmnist_zoo/cnn_network.h"
#include "core/error.h"
#include "io/atomic_file.h"

namespace taskrel::fmnist_zoo {
namespace {

// Fashion-MNIST pixel statistics (train set, pixels in [0, 1]).
constexpr float kPixelMean = 0.286f;
constexpr float kPixelStd = 0.353f;
constexpr std::int64_t kEvalBatch = 500;

}  // namespace

void set_torch_threads(int threads) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(threads > 0 ? threads : std::max(1, cores));
}

CnnBodyImpl::CnnBodyImpl(int width_, Architecture architecture_, int embedding_dim_)
    : width(width_), architecture(architecture_), embedding_dim(embedding_dim_) {
  auto conv = [](int in, int out) { return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)); };
  switch (architecture) {
    case Architecture::kCnn:
      conv1 = register_module("conv1", conv(1, width));
      conv2 = register_module("conv2", conv(width, 2 * width));
      conv3 = register_module("conv3", conv(2 * width, 2 * width));
      embedding = register_module("embedding", torch::nn::Linear(2 * width * 7 * 7, embedding_dim));
      break;
    case Architecture::kDeepCnn:
      conv1 = register_module("conv1", conv(1, width));
      conv2 = register_module("conv2", conv(width, width));
      conv3 = register_module("conv3", conv(width, 2 * width));
      conv4 = register_module("conv4", conv(2 * width, 2 * width));
      conv5 = register_module("conv5", conv(2 * width, 2 * width));
      embedding = register_module("embedding", torch::nn::Linear(2 * width * 7 * 7, embedding_dim));
      break;
    case Architecture::kMlp:
      hidden1 = register_module("hidden1", torch::nn::Linear(kImagePixels, 32 * width));
      hidden2 = register_module("hidden2", torch::nn::Linear(32 * width, 16 * width));
      embedding = register_module("embedding", torch::nn::Linear(16 * width, embedding_dim));
      break;
  }
}

torch::Tensor CnnBodyImpl::forward(torch::Tensor x) {
  switch (architecture) {
    case Architecture::kCnn:
      x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
      x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
      x = torch::relu(conv3->forward(x));
      break;
    case Architecture::kDeepCnn:
      x = torch::relu(conv1->forward(x));
      x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
      x = torch::relu(conv3->forward(x));
      x = torch::max_pool2d(torch::relu(conv4->forward(x)), 2);
      x = torch::relu(conv5->forward(x));
      break;
    case Architecture::kMlp:
      x = torch::relu(hidden1->forward(x.flatten(1)));
      x = torch::relu(hidden2->forward(x));
      break;
  }
  return embedding->forward(x.flatten(1));
}

torch::Tensor images_tensor(const ImageSplit& split) {
  auto tensor = torch::from_blob(const_cast<float*>(split.pixels.data()), {split.count, 1, kImageSide, kImageSide},
                                 torch::kFloat32);
  return (tensor - kPixelMean) / kPixelStd;  // a new tensor: the split is not aliased
}

torch::Tensor labels_tensor(const ImageSplit& split) {
  return torch::from_blob(const_cast<std::int64_t*>(split.labels.data()), {split.count}, torch::kInt64).clone();
}

void train_classifier(CnnBody& body, torch::nn::Linear& head, const ImageSplit& train, const TrainingBudget& budget,
                      std::uint64_t seed, const StepCallback& on_step) {
  const torch::Tensor images = images_tensor(train);
  const torch::Tensor labels = labels_tensor(train);
  const double encoder_rate = budget.encoder_learning_rate > 0 ? budget.encoder_learning_rate : budget.learning_rate;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(body->parameters(), std::make_unique<torch::optim::AdamOptions>(encoder_rate));
  groups.emplace_back(head->parameters(), std::make_unique<torch::optim::AdamOptions>(budget.learning_rate));
  torch::optim::Adam optimizer(std::move(groups), torch::optim::AdamOptions(budget.learning_rate));
  const std::int64_t n = train.count;
  const std::int64_t steps =
      static_cast<std::int64_t>(std::ceil(budget.epochs * static_cast<double>(n) / static_cast<double>(budget.batch_size)));
  auto generator = at::detail::createCPUGenerator(seed);
  body->train();
  head->train();
  torch::Tensor order;
  std::int64_t cursor = n;
  for (std::int64_t step = 0; step < steps; ++step) {
    if (cursor + budget.batch_size > n) {  // a new epoch: a fresh permutation
      order = torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64));
      cursor = 0;
    }
    const torch::Tensor batch = order.slice(0, cursor, cursor + budget.batch_size);
    cursor += budget.batch_size;
    optimizer.zero_grad();
    const torch::Tensor logits = head->forward(body->forward(images.index_select(0, batch)));
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels.index_select(0, batch));
    loss.backward();
    optimizer.step();
    if (on_step) on_step(step + 1, steps);
  }
}

double classifier_accuracy(CnnBody& body, torch::nn::Linear& head, const ImageSplit& test) {
  torch::NoGradGuard no_grad;
  body->eval();
  head->eval();
  const torch::Tensor images = images_tensor(test);
  const torch::Tensor labels = labels_tensor(test);
  std::int64_t correct = 0;
  for (std::int64_t begin = 0; begin < test.count; begin += kEvalBatch) {
    const std::int64_t end = std::min(test.count, begin + kEvalBatch);
    const torch::Tensor predicted = head->forward(body->forward(images.slice(0, begin, end))).argmax(1);
    correct += predicted.eq(labels.slice(0, begin, end)).sum().item<std::int64_t>();
  }
  return test.count > 0 ? static_cast<double>(correct) / static_cast<double>(test.count) : 0.0;
}

CnnEncoder::CnnEncoder(int width, std::uint64_t seed, Architecture architecture, int embedding_dim) {
  torch::manual_seed(seed);
  network_ = std::make_unique<Network>(Network{CnnBody(width, architecture, embedding_dim)});
}

CnnEncoder::CnnEncoder(std::unique_ptr<Network> network) : network_(std::move(network)) {}
CnnEncoder::~CnnEncoder() = default;
CnnEncoder::CnnEncoder(CnnEncoder&&) noexcept = default;
CnnEncoder& CnnEncoder::operator=(CnnEncoder&&) noexcept = default;

int CnnEncoder::width() const { return network_->body->width; }
int CnnEncoder::embedding_dim() const { return network_->body->embedding_dim; }

CnnEncoder CnnEncoder::load(const std::string& path, int width, Architecture architecture, int embedding_dim) {
  auto network = std::make_unique<Network>(Network{CnnBody(width, architecture, embedding_dim)});
  try {
    torch::load(network->body, path);
  } catch (const c10::Error& error) {
    throw InputError(fmt::format("{}: cannot load a width-{} {} encoder ({}); delete it or rerun with --force", path,
                                 width, enum_name(architecture), error.what_without_backtrace()));
  }
  return CnnEncoder(std::move(network));
}

void CnnEncoder::save(const std::string& path) const {
  io::PendingFile pending(path);  // a failed save leaves neither the file nor debris
  try {
    torch::save(network_->body, pending.temporary());
  } catch (const c10::Error& error) {
    throw RuntimeError(fmt::format("{}: saving the encoder failed: {}", path, error.what_without_backtrace()));
  }
  pending.commit();
}

double CnnEncoder::train_on_source(const ImageSplit& train, const ImageSplit& test, int num_classes,
                                   const TrainingBudget& budget, std::uint64_t seed, const StepCallback& on_step) {
  torch::manual_seed(seed);
  torch::nn::Linear head(embedding_dim(), num_classes);
  train_classifier(network_->body, head, train, budget, seed, on_step);
  return classifier_accuracy(network_->body, head, test);
}

std::vector<float> CnnEncoder::embed(const ImageSplit& split) const {
  torch::NoGradGuard no_grad;
  network_->body->eval();
  const torch::Tensor images = images_tensor(split);
  const std::int64_t dim = embedding_dim();
  std::vector<float> out(static_cast<std::size_t>(split.count) * dim);
  for (std::int64_t begin = 0; begin < split.count; begin += kEvalBatch) {
    const std::int64_t end = std::min(split.count, begin + kEvalBatch);
    const torch::Tensor z = network_->body->forward(images.slice(0, begin, end)).contiguous();
    std::copy(z.data_ptr<float>(), z.data_ptr<float>() + z.numel(), out.begin() + begin * dim);
  }
  return out;
}

}  // namespace taskrel::fmnist_zoo
