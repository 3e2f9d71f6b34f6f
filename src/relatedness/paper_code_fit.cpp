// The paper-code fit (paper_code_fit.h): LibTorch, one translation unit.
#include "relatedness/paper_code_fit.h"

#include <chrono>
#include <deque>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/error.h"
#include "ot/exact_emd.h"

namespace taskrel::relatedness {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWindow = 10;

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

std::vector<double> prior_of(const std::vector<std::int64_t>& y, std::int64_t classes) {
  const auto counts = class_counts(y, classes);
  std::vector<double> p(classes);
  for (std::int64_t k = 0; k < classes; ++k) p[k] = static_cast<double>(counts[k]) / static_cast<double>(y.size());
  return p;
}

Eigen::MatrixXd to_matrix(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat64).contiguous();
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      c.data_ptr<double>(), c.size(0), c.dim() > 1 ? c.size(1) : 1);
}

torch::Tensor from_matrix(const Eigen::MatrixXd& m) {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = m;
  return torch::from_blob(row_major.data(), {m.rows(), m.cols()}, torch::kFloat64).to(torch::kFloat32).clone();
}

struct StepOt {
  double w = 0;          // feature part of the plan's cost
  double objective = 0;  // the plan's cost with the label term
};

Split batch_of(const Split& split, std::int64_t classes, std::int64_t size, std::mt19937_64& rng) {
  if (size <= 0 || size >= split.rows) return split;
  return take_rows(split, stratified_sample(split.y, classes, size, rng));
}

}  // namespace

// The transformation model and its optimiser state.
struct PaperCodeFit::Model {
  torch::Tensor A, b, Abar, B_logits, D_logits;  // parameters (A etc. may be fixed)
  torch::Tensor B_fixed, D_fixed;                // used instead of the softmaxes when defined
  std::vector<torch::Tensor> learned;            // every tensor with requires_grad
  std::unique_ptr<torch::optim::Adam> optimizer;

  torch::Tensor B() const { return B_fixed.defined() ? B_fixed : torch::softmax(B_logits, 0); }
  torch::Tensor D() const { return D_fixed.defined() ? D_fixed : torch::softmax(D_logits, 0); }
};

namespace {

// The paper's code's W: one exact OT over all batch points with cost
// c(x_i, y_j) + lambda ||B e_{y_i} - e_{y_j}||, source masses D_{y_i}/n_{R,y_i},
// uniform target masses. Replicated on every rank (no sharding).
StepOt paper_code_step(const PaperCodeFit::Model& m, const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& n_class,
                      const Split& target, std::int64_t kt, const RelateOptions& options) {
  const auto x = z.matmul(m.A.t()) + m.b;
  const auto zt = rows_tensor(target.z, target.rows, target.dim);
  const auto yt = labels_tensor(target.y);
  auto feature = options.cost == ot::GroundCost::kEuclidean
                     ? torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64))
                     : torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64)).pow(2);
  const auto label_cost = torch::cdist(m.B().t().to(torch::kFloat64), torch::eye(kt, torch::kFloat64));  // K_R x K_T
  const auto total = feature + options.paper_code_lambda * label_cost.index({y.unsqueeze(1), yt.unsqueeze(0)});
  const auto a = (m.D() / n_class.clamp_min(1)).index_select(0, y).to(torch::kFloat64);
  const auto a_values = to_doubles(a);
  const std::vector<double> b_values(static_cast<std::size_t>(target.rows), 1.0 / static_cast<double>(target.rows));
  const auto emd = ot::solve_exact_emd(to_doubles(total), z.size(0), target.rows, a_values, b_values);
  std::vector<std::int64_t> src, dst;
  std::vector<double> mass;
  for (const auto& e : emd.plan) {
    src.push_back(e.source);
    dst.push_back(e.target);
    mass.push_back(e.mass);
  }
  const auto s = torch::tensor(src, torch::kInt64), t = torch::tensor(dst, torch::kInt64);
  const auto p = torch::tensor(mass, torch::kFloat64);
  const auto plan_cost = (p * total.index({s, t})).sum();
  StepOt out;
  out.w = (p * feature.index({s, t})).sum().item<double>();
  out.objective = plan_cost.item<double>();
  if (!m.learned.empty()) {
    // Duals as marginal gradients for D (centred: the masses sum to one).
    auto u = torch::tensor(emd.source_potentials, torch::kFloat64);
    u = u - (u * a.detach()).sum();
    const auto surrogate = plan_cost + (u * a).sum();
    (options.lambda_w * surrogate).backward();
  }
  return out;
}

}  // namespace

PaperCodeFit::PaperCodeFit(std::int64_t d, std::int64_t kt, const std::vector<double>& reference_prior,
                           Setting setting, const LabelStart& start, const RelateOptions& options)
    : model_(std::make_unique<Model>()), options_(options) {
  torch::manual_seed(options.seed);
  const std::int64_t kr = static_cast<std::int64_t>(reference_prior.size());
  Model& m = *model_;
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
    m.B_fixed = from_matrix(fixed_label_map(start));
    m.D_fixed = pr.clone();
    if (setting == Setting::kLearnedA) {
      for (auto* t : {&m.A, &m.b, &m.Abar}) t->requires_grad_(true);
      m.optimizer = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{m.A, m.b, m.Abar},
                                                         torch::optim::AdamOptions(options.lr));
      m.learned = {m.A, m.b, m.Abar};
    }
  }
}

PaperCodeFit::~PaperCodeFit() = default;

bool PaperCodeFit::learns() const { return !model_->learned.empty(); }

void PaperCodeFit::run(Communicator& comm, const Split& reference_train, std::int64_t kr, const Split& target_fit,
                       const std::vector<double>& class_losses_train, int epochs, int total_epochs,
                       std::mt19937_64& rng, RelateResult& result) {
  (void)comm;  // replicated on every rank: the same minibatches, the same steps
  Model& model = *model_;
  const auto started = Clock::now();
  const std::int64_t d = reference_train.dim, kt = static_cast<std::int64_t>(model.B().size(0));
  const std::int64_t batch = options_.batch_size > 0 ? options_.batch_size : options_.paper_code_batch;
  const auto class_losses = torch::tensor(class_losses_train, torch::kFloat64).to(torch::kFloat32);
  const auto target_prior = torch::tensor(std::vector<double>([&] {
                                            const auto counts = class_counts(target_fit.y, kt);
                                            std::vector<double> p(kt);
                                            for (std::int64_t k = 0; k < kt; ++k)
                                              p[k] = static_cast<double>(counts[k]) / target_fit.rows;
                                            return p;
                                          }()),
                                          torch::kFloat64)
                                .to(torch::kFloat32);
  const auto eye = torch::eye(d);
  std::deque<double> history;
  result.batch_size = batch;
  int e = 0;
  for (; e < epochs && learns(); ++e) {
    const Split ref_batch = batch_of(reference_train, kr, batch, rng);
    const Split tgt_batch = batch_of(target_fit, kt, batch, rng);
    const auto batch_counts = class_counts(ref_batch.y, kr);
    const auto n_class =
        torch::tensor(std::vector<double>(batch_counts.begin(), batch_counts.end()), torch::kFloat64).to(torch::kFloat32);
    model.optimizer->zero_grad();
    const auto ot_started = Clock::now();
    const StepOt step = paper_code_step(model, rows_tensor(ref_batch.z, ref_batch.rows, d), labels_tensor(ref_batch.y),
                                        n_class, tgt_batch, kt, options_);
    result.reference_w_last = step.w;
    result.seconds_ot += std::chrono::duration<double>(Clock::now() - ot_started).count();
    const auto B = model.B(), D = model.D();
    const auto rw = (D * class_losses).sum();
    const auto h = -(D * torch::xlogy(B, B).sum(0)).sum();
    const auto pm = (target_prior - B.matmul(D)).pow(2).sum();
    const auto ic = (model.A.matmul(model.Abar) - eye).pow(2).sum() + (model.Abar.matmul(model.A) - eye).pow(2).sum();
    const auto rest = rw + h + options_.lambda_pm * pm + options_.lambda_ic * ic;
    rest.backward();
    model.optimizer->step();
    result.objective = rest.item<double>() + options_.lambda_w * step.w;
    history.push_back(result.objective);
    if (static_cast<int>(history.size()) > 2 * kWindow) history.pop_front();
    ++result.epochs;
    if (options_.log_every > 0 && (result.epochs % options_.log_every == 0 || result.epochs == 1))
      spdlog::info("epoch {}/{}: objective {:.5g}  RW {:.4g}  H {:.4g}  W {:.4g}  PM {:.3g}  IC {:.3g}", result.epochs,
                   total_epochs, result.objective, rw.item<double>(), h.item<double>(), step.w, pm.item<double>(),
                   ic.item<double>());
    // Minibatch objectives are noisy: compare the means of two windows.
    if (static_cast<int>(history.size()) == 2 * kWindow) {
      double first = 0, second = 0;
      for (int i = 0; i < kWindow; ++i) {
        first += history[i];
        second += history[kWindow + i];
      }
      if (std::abs(first - second) <= options_.tolerance * std::abs(second)) {
        result.fit_converged = true;
        ++e;
        break;
      }
    }
  }
  if (!learns()) result.fit_converged = true;
  result.seconds_fit += std::chrono::duration<double>(Clock::now() - started).count();
}

Transformation PaperCodeFit::transformation() const {
  torch::NoGradGuard no_grad;
  Transformation t;
  t.A = to_matrix(model_->A);
  t.b = to_matrix(model_->b.view({-1, 1})).col(0);
  t.Abar = to_matrix(model_->Abar);
  t.B = to_matrix(model_->B());
  t.D = to_matrix(model_->D().view({-1, 1})).col(0);
  return t;
}

}  // namespace taskrel::relatedness
