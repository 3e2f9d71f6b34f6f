// The transformation model and the transferred classifier (LibTorch).
#include "relatedness/transformation.h"

#include <algorithm>

#include "relatedness/assignment.h"

namespace taskrel::relatedness::detail {

torch::Tensor rows_tensor(const std::vector<float>& values, std::int64_t rows, std::int64_t cols) {
  return torch::from_blob(const_cast<float*>(values.data()), {rows, cols}, torch::kFloat32).clone();
}

torch::Tensor labels_tensor(const std::vector<std::int64_t>& y) {
  return torch::from_blob(const_cast<std::int64_t*>(y.data()), {static_cast<std::int64_t>(y.size())}, torch::kInt64)
      .clone();
}

std::vector<double> to_doubles(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<float> to_floats(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor from_doubles(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  return torch::from_blob(const_cast<double*>(v.data()), {rows, cols}, torch::kFloat64).to(torch::kFloat32);
}

std::vector<double> prior_of(const std::vector<std::int64_t>& y, std::int64_t classes) {
  const auto counts = class_counts(y, classes);
  std::vector<double> p(classes);
  for (std::int64_t k = 0; k < classes; ++k) p[k] = static_cast<double>(counts[k]) / static_cast<double>(y.size());
  return p;
}

std::vector<std::int64_t> cooccurrence_matching(const TaskData& reference, const Split& target_train,
                                                const std::vector<std::int64_t>& target_labels, std::int64_t kt,
                                                std::vector<double>& cooccurrence) {
  const std::int64_t kr = reference.num_classes, d = reference.dim;
  torch::NoGradGuard no_grad;
  const auto zr = rows_tensor(reference.train.z, reference.train.rows, d);
  const auto yr = labels_tensor(reference.train.y);
  const auto sums = torch::zeros({kr, d}).index_add_(0, yr, zr);
  const auto means = sums / torch::bincount(yr, {}, kr).to(torch::kFloat32).clamp_min(1).unsqueeze(1);
  const auto zt = rows_tensor(target_train.z, target_train.rows, d);
  const auto nearest = torch::cdist(zt, means).argmin(1).contiguous();
  std::vector<double> count(static_cast<std::size_t>(kt * kr), 0.0);
  const auto* nn = nearest.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < target_train.rows; ++i) count[target_labels[i] * kr + nn[i]] += 1.0;
  cooccurrence.assign(count.size(), 0.0);
  for (std::int64_t j = 0; j < kr; ++j) {
    double column = 0.0;
    for (std::int64_t k = 0; k < kt; ++k) column += count[k * kr + j] + 1e-3;
    for (std::int64_t k = 0; k < kt; ++k) cooccurrence[k * kr + j] = (count[k * kr + j] + 1e-3) / column;
  }
  std::vector<std::int64_t> perm(kr, -1);
  if (kt == kr) {
    std::vector<double> cost(static_cast<std::size_t>(kr * kr));
    for (std::int64_t j = 0; j < kr; ++j)
      for (std::int64_t k = 0; k < kr; ++k) cost[j * kr + k] = -count[k * kr + j];
    const auto match = solve_assignment(cost, static_cast<int>(kr));
    for (std::int64_t j = 0; j < kr; ++j) perm[j] = match[j];
  }
  return perm;
}

Model make_model(std::int64_t d, std::int64_t kt, std::int64_t kr, const std::vector<double>& reference_prior,
                 Setting setting, const std::vector<std::int64_t>& perm, const std::vector<double>& cooccurrence,
                 const RelateOptions& options) {
  Model m;
  m.A = torch::eye(d);
  m.b = torch::zeros({d});
  m.Abar = torch::eye(d);
  const auto pr = torch::tensor(reference_prior, torch::kFloat64).to(torch::kFloat32);
  if (setting == Setting::kLearnedAll) {
    // Small seeded noise breaks the symmetry of the uniform start.
    m.B_logits = 0.01 * torch::randn({kt, kr});
    m.D_logits = pr.clamp_min(1e-12).log();
    for (auto* t : {&m.A, &m.b, &m.Abar, &m.B_logits, &m.D_logits}) t->requires_grad_(true);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{m.A, m.b, m.Abar, m.B_logits},
                        std::make_unique<torch::optim::AdamOptions>(options.lr));
    groups.emplace_back(std::vector<torch::Tensor>{m.D_logits},
                        std::make_unique<torch::optim::AdamOptions>(options.lr_d));
    m.optimizer = std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions(options.lr));
    m.learned = {m.A, m.b, m.Abar, m.B_logits, m.D_logits};
  } else {
    if (!perm.empty() && perm[0] >= 0) {
      m.B_fixed = torch::zeros({kt, kr});
      for (std::int64_t j = 0; j < kr; ++j) m.B_fixed[perm[j]][j] = 1.0;
    } else {
      m.B_fixed = torch::tensor(cooccurrence, torch::kFloat64).to(torch::kFloat32).view({kt, kr});
    }
    m.D_fixed = pr.clone();
    if (setting == Setting::kLearnedA) {
      for (auto* t : {&m.A, &m.b, &m.Abar}) t->requires_grad_(true);
      m.optimizer = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{m.A, m.b, m.Abar},
                                                         torch::optim::AdamOptions(options.lr));
      m.learned = {m.A, m.b, m.Abar};
    }
  }
  return m;
}

void all_reduce_gradients(Communicator& comm, const Model& m) {
  if (comm.size() == 1) return;
  for (const auto& p : m.learned) {
    auto g = p.mutable_grad();
    if (!g.defined()) continue;
    auto c = g.contiguous();
    comm.all_reduce(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()), ReduceOp::kSum);
    if (!c.is_same(g)) g.copy_(c);
  }
}

Terms replicated_terms(const Model& m, const torch::Tensor& class_losses, const torch::Tensor& target_prior) {
  const auto B = m.B(), D = m.D();
  const auto d = m.A.size(0);
  const auto eye = torch::eye(d);
  Terms t;
  t.rw = (D * class_losses).sum();
  t.h = -(D * torch::xlogy(B, B).sum(0)).sum();
  t.pm = (target_prior - B.matmul(D)).pow(2).sum();
  t.ic = (m.A.matmul(m.Abar) - eye).pow(2).sum() + (m.Abar.matmul(m.A) - eye).pow(2).sum();
  return t;
}

ot::SinkhornOptions sinkhorn_options(const RelateOptions& options, double tolerance) {
  ot::SinkhornOptions s;
  s.epsilon = options.epsilon;
  s.tolerance = tolerance;
  s.max_iterations = tolerance == options.fit_tolerance ? options.fit_max_iterations : options.max_sinkhorn_iterations;
  s.cost = options.cost;
  s.memory_budget_bytes = static_cast<std::int64_t>(options.memory_budget_gib * (1ull << 30));
  s.device = options.device;
  return s;
}

torch::Tensor class_weights(const Model& m, const torch::Tensor& y, const torch::Tensor& n_class) {
  const auto per_class = m.D() / n_class.clamp_min(1);
  return per_class.index_select(0, y).unsqueeze(1) * m.B().t().index_select(0, y);
}

Split batch_of(const Split& split, std::int64_t classes, std::int64_t size, std::mt19937_64& rng) {
  if (size <= 0 || size >= split.rows) return split;
  return take_rows(split, stratified_sample(split.y, classes, size, rng));
}

Transferred transferred_classifier(const Model& m, const LinearHead& head, const Split& split,
                                   const std::vector<std::int64_t>& labels) {
  const auto W = rows_tensor(head.weight, head.classes, head.dim);
  const auto c = rows_tensor(head.bias, 1, head.classes).view({head.classes});
  const auto B = m.B().detach(), Abar = m.Abar.detach(), b = m.b.detach();
  const auto y = labels_tensor(labels);
  Transferred out;
  const std::int64_t chunk = 4096;
  double loss_sum = 0.0, hits = 0.0;
  out.predictions.resize(static_cast<std::size_t>(split.rows));
  for (std::int64_t begin = 0; begin < split.rows; begin += chunk) {
    const std::int64_t end = std::min(split.rows, begin + chunk);
    auto z = torch::from_blob(const_cast<float*>(split.z.data() + begin * split.dim), {end - begin, split.dim},
                              torch::kFloat32)
                 .clone()
                 .requires_grad_(true);
    const auto probs_r = torch::softmax((z - b).matmul(Abar.t()).matmul(W.t()) + c, 1);
    const auto probs_t = probs_r.matmul(B.t());  // rows x K_T
    const auto yb = y.slice(0, begin, end);
    const auto nll = -probs_t.gather(1, yb.unsqueeze(1)).squeeze(1).clamp_min(1e-30).log();
    const auto grad = torch::autograd::grad({nll.sum()}, {z})[0];
    out.tau = std::max(out.tau, grad.norm(2, {1}).max().item<double>());
    loss_sum += nll.sum().item<double>();
    const auto pred = probs_t.argmax(1).contiguous();
    hits += pred.eq(yb).sum().item<double>();
    std::copy_n(pred.data_ptr<std::int64_t>(), end - begin, out.predictions.begin() + begin);
  }
  out.loss = loss_sum / static_cast<double>(split.rows);
  out.accuracy = hits / static_cast<double>(split.rows);
  return out;
}

}  // namespace taskrel::relatedness::detail
