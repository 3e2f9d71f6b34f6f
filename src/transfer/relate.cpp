// LibTorch translation unit 2 of 2: the transformation fit and the report.
#include "transfer/relate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <cstdlib>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "comm/row_blocks.h"
#include "core/error.h"
#include "ot/exact_emd.h"
#include "transfer/assignment.h"
#include "transfer/wd_gradient.h"

namespace taskrel::transfer {

FitMode parse_fit_mode(const std::string& name) {
  if (name == "label-exact") return FitMode::kLabelExact;
  if (name == "reference") return FitMode::kReference;
  throw InputError(fmt::format("unknown mode '{}' (label-exact or reference)", name));
}

Setting parse_setting(const std::string& name) {
  if (name == "learned-all") return Setting::kLearnedAll;
  if (name == "learned-A") return Setting::kLearnedA;
  if (name == "fixed-all") return Setting::kFixedAll;
  throw InputError(fmt::format("unknown setting '{}' (learned-all, learned-A or fixed-all)", name));
}

const char* to_string(FitMode mode) { return mode == FitMode::kLabelExact ? "label-exact" : "reference"; }

const char* to_string(Setting setting) {
  switch (setting) {
    case Setting::kLearnedAll: return "learned-all";
    case Setting::kLearnedA: return "learned-A";
    case Setting::kFixedAll: return "fixed-all";
  }
  return "?";
}

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

namespace {

using Seconds = std::chrono::duration<double>;
using Clock = std::chrono::steady_clock;

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

// Target class of each reference class, from the co-occurrence of the target
// points' nearest reference class mean with their labels (maximum matching).
// Also returns the column-normalised co-occurrence (K_T x K_R).
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

// The transformation model and its optimiser state.
struct Model {
  torch::Tensor A, b, Abar, B_logits, D_logits;  // parameters (A etc. may be fixed)
  torch::Tensor B_fixed, D_fixed;                // used instead of the softmaxes when defined
  std::vector<torch::Tensor> learned;            // every tensor with requires_grad
  std::unique_ptr<torch::optim::Adam> optimizer;

  torch::Tensor B() const { return B_fixed.defined() ? B_fixed : torch::softmax(B_logits, 0); }
  torch::Tensor D() const { return D_fixed.defined() ? D_fixed : torch::softmax(D_logits, 0); }
};

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

// Gradients of the rank-local surrogate are summed over the ranks so every
// rank takes the same step.
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

struct Terms {
  torch::Tensor rw, h, pm, ic;
};

// The replicated part of the objective: RW, H, prior mismatch and invertibility.
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

// Class weights w_ik = D_{y_i} / n_{R,y_i} * B_{k,y_i} for rows with labels y (n_class: global counts).
torch::Tensor class_weights(const Model& m, const torch::Tensor& y, const torch::Tensor& n_class) {
  const auto per_class = m.D() / n_class.clamp_min(1);
  return per_class.index_select(0, y).unsqueeze(1) * m.B().t().index_select(0, y);
}

struct StepOt {
  double w = 0;          // the W_d value (transport cost) of this step
  double objective = 0;  // what the gradient differentiates
  double mismatch = 0;
  bool converged = true;
  int iterations = 0;
  double epsilon = 0;
  double reference_w = 0;
};

// Label-exact W_d on this rank's rows z_local (labels y_local) against the
// target batch; backpropagates lambda_W times its surrogate.
StepOt label_exact_step(Communicator& comm, const Model& m, const torch::Tensor& z_local, const torch::Tensor& y_local,
                        const torch::Tensor& n_class, const Split& target, std::int64_t kt,
                        const ot::SinkhornOptions& solver, std::vector<ot::Potentials>* warm, double lambda_w,
                        bool backward) {
  const auto x = z_local.matmul(m.A.t()) + m.b;
  const auto w = class_weights(m, y_local, n_class);
  const auto x_values = to_floats(x);
  ot::LabelAwareProblem problem;
  problem.x_local = ot::PointCloudView{x_values.data(), z_local.size(0), z_local.size(1)};
  problem.class_weights = to_doubles(w);
  problem.y = ot::view_of(target.z, target.rows, target.dim);
  problem.y_labels = target.y;
  problem.num_classes = static_cast<int>(kt);
  const bool use_warm = warm != nullptr && static_cast<std::int64_t>(warm->size()) == kt;
  WdGradient wd = label_exact_wd(comm, problem, solver, use_warm ? warm : nullptr);
  if (warm != nullptr) *warm = std::move(wd.potentials);
  if (backward && !m.learned.empty()) {
    const auto gx = from_doubles(wd.grad_x, z_local.size(0), z_local.size(1));
    const auto gw = from_doubles(wd.grad_w, z_local.size(0), kt);
    const auto surrogate = (x * gx).sum() + (w * gw).sum();
    (lambda_w * surrogate).backward();
  }
  StepOt out;
  out.w = wd.distance;
  out.objective = wd.objective;
  out.mismatch = wd.mass_mismatch;
  out.converged = wd.converged;
  out.iterations = wd.iterations;
  out.epsilon = wd.epsilon;
  return out;
}

// The paper's code's W: one exact OT over all batch points with cost
// c(x_i, y_j) + lambda ||B e_{y_i} - e_{y_j}||, source masses D_{y_i}/n_{R,y_i},
// uniform target masses. Replicated on every rank (no sharding).
StepOt reference_step(const Model& m, const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& n_class,
                      const Split& target, std::int64_t kt, const RelateOptions& options) {
  const auto x = z.matmul(m.A.t()) + m.b;
  const auto zt = rows_tensor(target.z, target.rows, target.dim);
  const auto yt = labels_tensor(target.y);
  auto feature = options.cost == ot::GroundCost::kEuclidean
                     ? torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64))
                     : torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64)).pow(2);
  const auto label_cost = torch::cdist(m.B().t().to(torch::kFloat64), torch::eye(kt, torch::kFloat64));  // K_R x K_T
  const auto total = feature + options.reference_lambda * label_cost.index({y.unsqueeze(1), yt.unsqueeze(0)});
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
  out.reference_w = (p * feature.index({s, t})).sum().item<double>();
  out.w = out.reference_w;
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

// Stratified batch of a split's rows (all rows when size covers it).
Split batch_of(const Split& split, std::int64_t classes, std::int64_t size, std::mt19937_64& rng) {
  if (size <= 0 || size >= split.rows) return split;
  return take_rows(split, stratified_sample(split.y, classes, size, rng));
}

// The transferred classifier h_T(z) = B softmax(W Abar (z - b) + c): its
// probabilities for the given points, and per-point input-gradient norms of
// -log h_T(z)_y.
struct Transferred {
  double loss = 0, accuracy = 0, tau = 0;
  std::vector<std::int64_t> predictions;
};

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

}  // namespace

RelateResult relate(Communicator& comm, const TaskData& reference, const TaskData& target, const LinearHead& head,
                    const RelateOptions& options, bool keep_transform) {
  const std::int64_t kr = reference.num_classes, kt = target.num_classes, d = reference.dim;
  TASKREL_ASSERT(target.dim == d, "dimension mismatch reached relate()");
  TASKREL_ASSERT(head.classes == kr && head.dim == d, "head is {} x {}, reference has {} classes, d = {}",
                 head.classes, head.dim, kr, d);
  if (options.setting == Setting::kLearnedA && kt != kr)
    throw InputError(fmt::format("setting learned-A needs as many target as reference classes ({} vs {})", kt, kr));
  torch::manual_seed(options.seed);
  std::mt19937_64 rng(options.seed);

  RelateResult result;
  result.ref_classes = kr;
  result.target_classes = kt;
  result.dim = d;

  // Target labels for fitting: the stored ones, or pseudo-labels from k-means.
  std::vector<std::int64_t> fit_labels = target.train.y;
  if (options.pseudo_labels) {
    if (target.train.rows < kt)
      throw InputError(fmt::format("pseudo-labels: target has {} rows for {} classes", target.train.rows, kt));
    fit_labels = kmeans(target.train.z, target.train.rows, d, static_cast<int>(kt), options.seed);
    result.pseudo_label_agreement_rounds.push_back(
        agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt)));
  }

  HeadReport train_report;
  const auto train_losses = evaluate_head(head, reference.train.z, reference.train.y, reference.train.rows, train_report);
  const auto class_losses_fit = torch::tensor(train_losses, torch::kFloat64).to(torch::kFloat32);
  result.reference_prior = prior_of(reference.train.y, kr);

  std::vector<double> cooccurrence;
  std::vector<std::int64_t> perm;
  if (options.setting != Setting::kLearnedAll) {
    perm = cooccurrence_matching(reference, target.train, fit_labels, kt, cooccurrence);
    result.fixed_permutation = perm;
  }
  Model model = make_model(d, kt, kr, result.reference_prior, options.setting, perm, cooccurrence, options);

  // Full data (warm-started) or stratified minibatches.
  std::int64_t batch = options.batch_size;
  if (batch <= 0)
    batch = (reference.train.rows * target.train.rows <= options.full_pairs) ? 0 : 500;
  if (options.mode == FitMode::kReference) batch = options.batch_size > 0 ? options.batch_size : options.reference_batch;
  result.batch_size = batch;
  const auto solver = sinkhorn_options(options, options.fit_tolerance);
  const auto fit_started = Clock::now();
  const int rounds = options.pseudo_labels ? std::max(1, options.pseudo_rounds) : 1;
  const int epochs = model.learned.empty() ? 0 : options.epochs;
  std::vector<ot::Potentials> warm;
  int epoch_count = 0;
  for (int round = 0; round < rounds; ++round) {
    const int round_epochs = epochs / rounds + (round < epochs % rounds ? 1 : 0);
    Split target_fit = target.train;
    target_fit.y = fit_labels;
    const auto target_prior = torch::tensor(prior_of(fit_labels, kt), torch::kFloat64).to(torch::kFloat32);
    warm.clear();
    for (int e = 0; e < round_epochs; ++e) {
      ++epoch_count;
      const Split ref_batch = batch_of(reference.train, kr, batch, rng);
      const Split tgt_batch = batch_of(target_fit, kt, batch, rng);
      const auto batch_counts = class_counts(ref_batch.y, kr);
      const auto n_class =
          torch::tensor(std::vector<double>(batch_counts.begin(), batch_counts.end()), torch::kFloat64)
              .to(torch::kFloat32);
      model.optimizer->zero_grad();
      const auto ot_started = Clock::now();
      StepOt step;
      if (options.mode == FitMode::kLabelExact) {
        const RowBlock block = shard_rows(ref_batch.rows, comm.rank(), comm.size());
        const auto z_all = rows_tensor(ref_batch.z, ref_batch.rows, d);
        const auto y_all = labels_tensor(ref_batch.y);
        step = label_exact_step(comm, model, z_all.slice(0, block.begin, block.end),
                                y_all.slice(0, block.begin, block.end), n_class, tgt_batch, kt, solver,
                                batch == 0 ? &warm : nullptr, options.lambda_w, true);
        all_reduce_gradients(comm, model);
      } else {
        step = reference_step(model, rows_tensor(ref_batch.z, ref_batch.rows, d), labels_tensor(ref_batch.y), n_class,
                              tgt_batch, kt, options);
        result.reference_w_last = step.reference_w;
      }
      result.seconds_ot += Seconds(Clock::now() - ot_started).count();
      const Terms terms = replicated_terms(model, class_losses_fit, target_prior);
      const auto rest = terms.rw + terms.h + options.lambda_pm * terms.pm + options.lambda_ic * terms.ic;
      rest.backward();
      model.optimizer->step();
      result.objective = rest.item<double>() + options.lambda_w * step.w;
      if (!step.converged) ++result.fit_ot_unconverged_steps;
      result.fit_ot_iterations += step.iterations;
      if (options.log_every > 0 && (epoch_count % options.log_every == 0 || epoch_count == 1 || epoch_count == epochs))
        spdlog::info("epoch {}/{}: objective {:.5g}  RW {:.4g}  H {:.4g}  W {:.4g}  PM {:.3g}  IC {:.3g}  "
                     "|P_T-BD|_1 {:.3g}  OT it {}{}",
                     epoch_count, epochs, result.objective, terms.rw.item<double>(), terms.h.item<double>(), step.w,
                     terms.pm.item<double>(), terms.ic.item<double>(), step.mismatch, step.iterations,
                     step.converged ? "" : " (not converged)");
    }
    if (options.pseudo_labels) {
      // y_T = argmax_k (B h_R(Abar (z_T - b)))_k. A relabelling that empties a
      // class is a collapse (an under-confident head lets B's row sums decide):
      // it is rejected and the current labels are kept.
      auto relabelled = transferred_classifier(model, head, target.train, fit_labels).predictions;
      const auto counts = class_counts(relabelled, kt);
      if (std::find(counts.begin(), counts.end(), 0) != counts.end()) {
        spdlog::warn("pseudo-labels round {}: relabelling leaves a class empty; keeping the previous labels",
                     round + 1);
        ++result.pseudo_label_rejected_rounds;
      } else {
        fit_labels = std::move(relabelled);
      }
      result.pseudo_label_agreement_rounds.push_back(
          agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt)));
      spdlog::info("pseudo-labels round {}/{}: agreement with the stored labels {:.4f} (up to permutation)", round + 1,
                   rounds, result.pseudo_label_agreement_rounds.back());
    }
  }
  result.epochs = epoch_count;
  result.seconds_fit = Seconds(Clock::now() - fit_started).count();

  // ---- report on the test splits (pseudo-labels: the labelled target train split)
  const auto eval_started = Clock::now();
  torch::NoGradGuard no_grad;
  Split target_eval = options.pseudo_labels ? target.train : target.test;
  if (options.pseudo_labels) {
    target_eval.y = fit_labels;
    result.pseudo_label_agreement = agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt));
  }
  HeadReport test_report;
  result.class_losses = evaluate_head(head, reference.test.z, reference.test.y, reference.test.rows, test_report);
  const auto B = model.B().to(torch::kFloat64), D = model.D().to(torch::kFloat64);
  const auto losses = torch::tensor(result.class_losses, torch::kFloat64);
  result.reweighted_loss = (D * losses).sum().item<double>();
  result.label_mismatch = -(D * torch::xlogy(B, B).sum(0)).sum().item<double>();
  result.B = to_doubles(B);
  result.D = to_doubles(D);
  result.target_prior = prior_of(target_eval.y, kt);

  std::mt19937_64 eval_rng(options.seed + 1);
  const Split ref_eval = batch_of(reference.test, kr, options.eval_points, eval_rng);
  const Split tgt_eval = batch_of(target_eval, kt, options.eval_points, eval_rng);
  result.eval_reference_points = ref_eval.rows;
  result.eval_target_points = tgt_eval.rows;
  {
    const RowBlock block = shard_rows(ref_eval.rows, comm.rank(), comm.size());
    const auto z_all = rows_tensor(ref_eval.z, ref_eval.rows, d);
    const auto y_all = labels_tensor(ref_eval.y);
    const auto counts = class_counts(ref_eval.y, kr);
    const auto n_class =
        torch::tensor(std::vector<double>(counts.begin(), counts.end()), torch::kFloat64).to(torch::kFloat32);
    const auto ot_started = Clock::now();
    const StepOt step = label_exact_step(comm, model, z_all.slice(0, block.begin, block.end),
                                         y_all.slice(0, block.begin, block.end), n_class, tgt_eval, kt,
                                         sinkhorn_options(options, options.eval_tolerance), nullptr, 0.0, false);
    result.seconds_ot += Seconds(Clock::now() - ot_started).count();
    result.distribution_mismatch = step.w;
    result.prior_mismatch = step.mismatch;
    result.ot_converged = step.converged;
    result.ot_iterations = step.iterations;
    result.ot_epsilon = step.epsilon;
  }
  {
    torch::AutoGradMode grad_on(true);
    const Transferred t = transferred_classifier(model, head, target_eval, target_eval.y);
    result.tau = t.tau;
    result.target_loss = t.loss;
    result.target_accuracy = t.accuracy;
  }
  result.relatedness = result.reweighted_loss + result.label_mismatch + result.tau * result.distribution_mismatch;
  const auto eye = torch::eye(d);
  result.invertibility_residual = (model.A.detach().matmul(model.Abar.detach()) - eye).norm().item<double>();
  result.transform_shift = (model.A.detach() - eye).norm().item<double>();
  if (keep_transform) {
    result.A = to_doubles(model.A);
    result.b = to_doubles(model.b);
  }
  result.head = test_report;
  result.seconds_eval = Seconds(Clock::now() - eval_started).count();
  return result;
}

}  // namespace taskrel::transfer
