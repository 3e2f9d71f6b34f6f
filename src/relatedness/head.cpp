// LibTorch translation unit: the reference head (and the threads LibTorch uses).
#include "relatedness/head.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/error.h"

namespace taskrel::relatedness {

namespace {

torch::Tensor as_tensor(const std::vector<float>& values, std::int64_t rows, std::int64_t cols) {
  return torch::from_blob(const_cast<float*>(values.data()), {rows, cols}, torch::kFloat32).clone();
}

torch::Tensor as_labels(const std::vector<std::int64_t>& y) {
  return torch::from_blob(const_cast<std::int64_t*>(y.data()), {static_cast<std::int64_t>(y.size())}, torch::kInt64)
      .clone();
}

// ||grad_z CE(Wz + c, y)|| per row: ||W^T r|| with r = softmax - onehot,
// computed as sqrt(r^T (W W^T) r) so no rows x d matrix is formed.
torch::Tensor input_gradient_norm(const torch::Tensor& weight, const torch::Tensor& probs, const torch::Tensor& y,
                                  std::int64_t classes) {
  const auto residual = probs - torch::one_hot(y, classes).to(probs.dtype());
  const auto gram = weight.matmul(weight.t());
  return (residual.matmul(gram) * residual).sum(1).clamp_min(1e-30).sqrt();
}

}  // namespace

LinearHead train_head(const std::vector<float>& z_values, const std::vector<std::int64_t>& y_values, std::int64_t rows,
                      std::int64_t dim, std::int64_t classes, const HeadOptions& options, HeadReport& report) {
  const auto started = std::chrono::steady_clock::now();
  torch::manual_seed(options.seed);
  const torch::Tensor z = as_tensor(z_values, rows, dim);
  const torch::Tensor y = as_labels(y_values);
  const torch::Tensor y_random = torch::randint(classes, {rows}, torch::kInt64);
  const torch::Tensor prior = torch::bincount(y, {}, classes).to(torch::kFloat32) / static_cast<double>(rows);

  torch::Tensor weight = torch::zeros({classes, dim}).requires_grad_(true);
  // The unpenalised bias starts at the log prior (the best constant classifier).
  torch::Tensor bias = prior.clamp_min(1e-12).log().clone().requires_grad_(true);
  torch::optim::Adam optimizer({weight, bias}, torch::optim::AdamOptions(options.lr));

  double previous = std::numeric_limits<double>::infinity();
  int calm = 0;
  report = HeadReport{};
  for (int epoch = 1; epoch <= options.max_epochs; ++epoch) {
    optimizer.zero_grad();
    const auto logits = z.matmul(weight.t()) + bias;
    const auto ce = torch::nn::functional::cross_entropy(logits, y);
    const auto probs = torch::softmax(logits, 1);
    const auto penalty_true = torch::relu(input_gradient_norm(weight, probs, y, classes) - options.tau0).pow(2).mean();
    const auto penalty_random =
        torch::relu(input_gradient_norm(weight, probs, y_random, classes) - options.tau0).pow(2).mean();
    const auto loss = ce + options.gamma * (penalty_true + penalty_random);
    loss.backward();
    optimizer.step();
    const double value = loss.item<double>();
    report.epochs = epoch;
    report.loss = value;
    if (std::abs(previous - value) <= options.tolerance * std::max(1.0, std::abs(value))) {
      if (++calm >= 20) {
        report.converged = true;
        break;
      }
    } else {
      calm = 0;
    }
    previous = value;
  }
  {
    torch::NoGradGuard no_grad;
    const auto logits = z.matmul(weight.t()) + bias;
    report.train_ce = torch::nn::functional::cross_entropy(logits, y).item<double>();
    report.train_accuracy = logits.argmax(1).eq(y).to(torch::kFloat64).mean().item<double>();
  }
  LinearHead head;
  head.classes = classes;
  head.dim = dim;
  const auto w = weight.detach().contiguous();
  const auto c = bias.detach().contiguous();
  head.weight.assign(w.data_ptr<float>(), w.data_ptr<float>() + classes * dim);
  head.bias.assign(c.data_ptr<float>(), c.data_ptr<float>() + classes);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!report.converged)
    spdlog::warn("reference head: loss still changing after {} epochs (last {:.6g})", report.epochs, report.loss);
  return head;
}

std::vector<double> evaluate_head(const LinearHead& head, const std::vector<float>& z_values,
                                  const std::vector<std::int64_t>& y_values, std::int64_t rows, HeadReport& report) {
  torch::NoGradGuard no_grad;
  const torch::Tensor z = as_tensor(z_values, rows, head.dim);
  const torch::Tensor y = as_labels(y_values);
  const torch::Tensor weight = as_tensor(head.weight, head.classes, head.dim);
  const torch::Tensor bias = as_tensor(head.bias, 1, head.classes).view({head.classes});
  const auto logits = z.matmul(weight.t()) + bias;
  const auto per_row = torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  report.test_ce = per_row.mean().item<double>();
  report.test_accuracy = logits.argmax(1).eq(y).to(torch::kFloat64).mean().item<double>();
  report.lipschitz = input_gradient_norm(weight, torch::softmax(logits, 1), y, head.classes).max().item<double>();
  report.spectral_norm = torch::linalg_svdvals(weight.to(torch::kFloat64)).max().item<double>();
  const auto sums = torch::zeros({head.classes}, torch::kFloat64).index_add_(0, y, per_row.to(torch::kFloat64));
  const auto counts = torch::bincount(y, {}, head.classes).to(torch::kFloat64);
  const auto mean = (sums / counts.clamp_min(1)).contiguous();
  return std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + head.classes);
}

}  // namespace taskrel::relatedness

namespace taskrel::relatedness {

void configure_threads(int threads, int ranks) {
  if (threads <= 0) {
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr && std::atoi(env) > 0) {
      threads = std::atoi(env);
    } else {
      const int cores = static_cast<int>(std::thread::hardware_concurrency());
      threads = std::max(1, cores / std::max(1, ranks));
    }
  }
  torch::set_num_threads(threads);
}

}  // namespace taskrel::relatedness
