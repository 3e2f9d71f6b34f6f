#include "matrix/matrix_run.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <list>
#include <map>
#include <numeric>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "comm/shared_counter.h"
#include "core/error.h"
#include "core/progress_reporter.h"
#include "io/result_store.h"
#include "ot/sinkhorn.h"
#include "matrix/best_reference.h"
#include "matrix/input_fingerprint.h"
#include "matrix/journal.h"
#include "matrix/journal_compaction.h"
#include "matrix/output_lock.h"
#include "matrix/task_cache.h"
#include "pipeline/triple.h"

namespace taskrel::matrix {

namespace fs = std::filesystem;

namespace {

// ---- signals -------------------------------------------------------------------
// The journal is durable after every record, so stopping needs no clean-up:
// exit at once (in-flight triples are recomputed by the rerun). Only
// async-signal-safe calls here.
extern "C" void stop_on_signal(int) {
  static const char message[] =
      "taskrel matrix: stop signal received; finished triples are in the journal; exit code 3 (rerun to resume)\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, message, sizeof(message) - 1);
  ::_exit(kExitInterrupted);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = stop_on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

// ---- the work queue ----------------------------------------------------------------
// Three shared counters (comm/shared_counter.h): the next queue index, the
// triples finished in this run, and a stop flag (--fail-fast).
enum QueueSlot { kNext = 0, kDone = 1, kStop = 2, kQueueSlots = 3 };

// World rank 0 shows progress from a plain thread (no MPI calls in it),
// reading the finished-triples counter from its own memory.
class ProgressThread {
 public:
  ProgressThread(const long long* done_counter, long long total, long long previously_done, const JobSpec& spec)
      : done_(done_counter),
        reporter_(total, previously_done,
                  {"triples", spec.progress_seconds, static_cast<long long>(spec.progress_triples)}),
        terminal_(::isatty(STDERR_FILENO) == 1) {
    thread_ = std::thread([this] {
      while (!stopping_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(terminal_ ? 500 : 200));
        reporter_.report(__atomic_load_n(done_, __ATOMIC_RELAXED));
      }
    });
  }
  ~ProgressThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
    reporter_.report(__atomic_load_n(done_, __ATOMIC_RELAXED));
    reporter_.finish();
  }

 private:
  const long long* done_;
  ProgressReporter reporter_;
  bool terminal_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string run_id() {
  const std::time_t now = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%S", &tm);
  char host[64] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return fmt::format("{}-{}-{}", text, host, ::getpid());
}

nlohmann::json journal_header(const JobSpec& spec, const std::string& run) {
  return {{"taskrel_journal", 1}, {"spec_hash", spec.result_hash()}, {"result_options", spec.result_options()},
          {"job", spec.job_file}, {"run", run},                      {"created", utc_now()}};
}

// The current fingerprint of a finished triple's inputs against its record:
// "" when they agree or the record predates fingerprints (counted in `unverified`).
std::string inputs_change(const JobSpec& spec, const Triple& t, const nlohmann::json& record, FingerprintMemo& current,
                          int* unverified) {
  if (!record.contains("inputs")) {
    ++*unverified;
    return "";
  }
  const std::string& reference = spec.references[t.reference];
  const std::string& target = spec.targets[t.target];
  return fingerprint_change(record["inputs"], current.of_triple(spec.file_of(t.encoder, reference),
                                                                spec.file_of(t.encoder, target),
                                                                spec.encoders[t.encoder], reference, target));
}

void log_hashing(const FingerprintMemo& memo, const char* what) {
  if (memo.bytes_hashed() > 0)
    spdlog::info("{}: {:.1f} MB of inputs hashed in {:.3f} s ({:.2f} s/GB)", what, memo.bytes_hashed() / 1e6,
                 memo.seconds_hashing(), memo.seconds_hashing() / (memo.bytes_hashed() / 1e9));
}

// Rank 0, holding journal.lock exclusively.
void compact(const JobSpec& spec, const std::string& run) {
  const auto summary = compact_journals(spec.output, spec.result_hash(), spec.result_options(), journal_header(spec, run));
  if (summary && summary->duplicates > 0)
    spdlog::warn("{}: {} triples were recorded more than once (the latest record is kept)", spec.output,
                 summary->duplicates);
  if (summary)
    spdlog::info("compacted {} journal file(s) into {}: {} triples, {} superseded, duplicate or cut-off record(s) "
                 "dropped", summary->files, summary->file, summary->records, summary->dropped);
}

}  // namespace

std::pair<int, int> collect_results(const JobSpec& spec) {
  const JournalContents journal = read_journals(spec.output, spec.result_hash(), spec.result_options());
  int duplicates = 0;
  const auto best = best_records(journal, &duplicates);
  if (duplicates > 0)
    spdlog::warn("{}: {} triples were recorded more than once (the latest record is kept)", spec.output, duplicates);
  std::vector<nlohmann::json> records;
  int ok = 0, failed = 0;
  // A matrix mixing results of old and new inputs is refused, naming them.
  TaskCache cache(spec.cache_gib);
  FingerprintMemo current(cache);
  std::vector<std::string> stale;
  int unverified = 0;
  for (const auto& t : spec.triples) {
    const auto it = best.find(spec.key(t));
    if (it == best.end() || it->second.value("status", std::string()) != "ok") continue;
    const std::string change = inputs_change(spec, t, it->second, current, &unverified);
    if (!change.empty()) stale.push_back(fmt::format("{} ({})", spec.key(t), change));
  }
  log_hashing(current, "collect: input fingerprints");
  if (unverified > 0)
    spdlog::warn("{}: {} finished triple(s) have no input fingerprints (journalled before taskrel recorded them): "
                 "not checked", spec.output, unverified);
  if (!stale.empty()) {
    std::string listed;
    for (std::size_t i = 0; i < stale.size() && i < 20; ++i) listed += "\n  " + stale[i];
    if (stale.size() > 20) listed += fmt::format("\n  ... and {} more", stale.size() - 20);
    throw InputError(fmt::format("{}: {} finished triple(s) were computed from inputs that have changed since; rerun "
                                 "`taskrel matrix` (without --collect) to recompute them:{}",
                                 spec.output, stale.size(), listed));
  }
  for (const auto& t : spec.triples) {
    const auto it = best.find(spec.key(t));
    if (it == best.end()) continue;
    records.push_back(it->second);
    (it->second.value("status", std::string()) == "ok" ? ok : failed)++;
  }
  io::MatrixAxes axes{spec.encoders, spec.references, spec.targets};
  const nlohmann::json attributes = {{"job", spec.job_file},
                                     {"name", spec.name},
                                     {"store", spec.store},
                                     {"spec_hash", spec.result_hash()},
                                     {"result_options", spec.result_options().dump()},
                                     {"triples", static_cast<double>(spec.triples.size())}};
  const std::string csv = (fs::path(spec.output) / "relatedness.csv").string();
  const std::string h5 = (fs::path(spec.output) / "relatedness.h5").string();
  io::write_relatedness_csv(csv, records);
  io::write_relatedness_h5(h5, axes, records, attributes);
  spdlog::info("collected {} of {} triples ({} ok, {} failed) into {} and {}", ok + failed, spec.triples.size(), ok,
               failed, csv, h5);
  if (spec.references.size() > 1) {
    const std::vector<nlohmann::json> best = best_reference_records(records);
    io::write_relatedness_csv((fs::path(spec.output) / "best_reference.csv").string(), best);
    io::write_relatedness_h5((fs::path(spec.output) / "best_reference.h5").string(),
                             io::MatrixAxes{spec.encoders, {"best"}, spec.targets}, best, attributes);
    spdlog::info("best reference of {} (encoder, target) pairs into best_reference.csv and .h5", best.size());
  }
  return {ok, failed};
}

int run_matrix(MpiCommunicator& world, const JobSpec& spec, const MatrixRunOptions& options) {
  if (spec.ranks_per_triple > world.size())
    throw InputError(fmt::format("{}: ranks_per_triple = {} but the job has {} ranks", spec.job_file,
                                 spec.ranks_per_triple, world.size()));
  relatedness::configure_threads(spec.options.threads, world.size());

  // Rank 0 prepares the output directory and reads the journals; every rank
  // gets the queue (or the error) from it, so all fail or none.
  std::string plan_text;
  std::unique_ptr<OutputLocks> locks;  // rank 0, for the whole run
  if (world.rank() == 0) {
    nlohmann::json plan;
    try {
      std::error_code ec;
      const std::string run = run_id();
      fs::create_directories(spec.output, ec);
      // Before anything is removed (--restart) or read: no other run may be
      // journalling these encoders here.
      if (!options.collect_only && fs::is_directory(spec.output))
        locks = std::make_unique<OutputLocks>(spec.output, spec.encoders, run, options.restart);
      if (options.restart) {
        fs::remove_all(journal_directory(spec.output), ec);
        fs::remove(fs::path(spec.output) / "relatedness.csv", ec);
        fs::remove(fs::path(spec.output) / "relatedness.h5", ec);
        fs::remove(fs::path(spec.output) / "best_reference.csv", ec);
        fs::remove(fs::path(spec.output) / "best_reference.h5", ec);
        if (locks) locks->restart_done();
      }
      fs::create_directories(spec.output, ec);
      if (ec || !fs::is_directory(spec.output))
        throw InputError(fmt::format("{}: cannot create the output directory: {}", spec.output, ec.message()));
      const JournalContents journal = read_journals(spec.output, spec.result_hash(), spec.result_options());
      const auto best = best_records(journal, nullptr);
      std::vector<int> remaining;
      TaskCache check_cache(spec.cache_gib);
      FingerprintMemo current(check_cache);
      int unverified = 0;
      for (std::size_t i = 0; i < spec.triples.size(); ++i) {
        const auto it = best.find(spec.key(spec.triples[i]));
        bool redo = it == best.end() || it->second.value("status", std::string()) != "ok";
        if (!redo && !options.collect_only) {
          const std::string change = inputs_change(spec, spec.triples[i], it->second, current, &unverified);
          if (!change.empty()) {
            spdlog::info("{}: recomputing: its inputs changed since it was computed ({})", spec.key(spec.triples[i]),
                         change);
            redo = true;
          }
        }
        if (redo) remaining.push_back(static_cast<int>(i));
      }
      log_hashing(current, "resume: input fingerprints");
      if (unverified > 0)
        spdlog::warn("{}: {} finished triple(s) have no input fingerprints (journalled before taskrel recorded them): "
                     "not checked", spec.output, unverified);
      // Largest first (stable: ties keep axis order, which keeps an encoder's triples together).
      std::stable_sort(remaining.begin(), remaining.end(),
                       [&](int a, int b) { return spec.triples[a].cost > spec.triples[b].cost; });
      plan = {{"remaining", remaining}, {"run", run}, {"partial_lines", journal.partial_lines}};
    } catch (const InputError& error) {
      plan = {{"error", error.what()}};
    }
    plan_text = plan.dump();
  }
  world.broadcast_string(plan_text, 0);
  const nlohmann::json plan = nlohmann::json::parse(plan_text);
  if (plan.contains("error")) throw InputError(plan["error"].get<std::string>());

  if (options.collect_only) {
    int code = kExitSuccess;
    if (world.rank() == 0) {
      // Compaction rewrites the journals: only when no run is writing them.
      if (const auto lock = lock_for_compaction(spec.output)) compact(spec, plan["run"].get<std::string>());
      else spdlog::warn("{}: a run is writing journals here; collected what is finished, journals not compacted", spec.output);
      code = collect_results(spec).second > 0 ? static_cast<int>(kExitTriplesFailed) : static_cast<int>(kExitSuccess);
    }
    world.broadcast(&code, sizeof(code), 0);
    return code;
  }

  const std::vector<int> remaining = plan["remaining"].get<std::vector<int>>();
  const long long total = static_cast<long long>(remaining.size());
  const long long previously = static_cast<long long>(spec.triples.size()) - total;
  const int groups = (world.size() + spec.ranks_per_triple - 1) / spec.ranks_per_triple;
  spdlog::info("{}: {} triples ({} encoders x {} references x {} targets), {} done earlier, {} to do; {} ranks in {} "
               "group(s) of {}; OT on {}; output {}",
               spec.name, spec.triples.size(), spec.encoders.size(), spec.references.size(), spec.targets.size(),
               previously, total, world.size(), groups, spec.ranks_per_triple,
               enum_name(spec.options.relate.device), spec.output);
  if (plan["partial_lines"].get<int>() > 0)
    spdlog::info("ignored {} journal line(s) cut short by an earlier kill", plan["partial_lines"].get<int>());

  install_stop_handlers();
  const int color = world.rank() / spec.ranks_per_triple;
  std::unique_ptr<Communicator> group = world.split(color, world.rank());
  const bool leader = group->rank() == 0;
  SharedCounters counters(world, kQueueSlots);
  std::unique_ptr<ProgressThread> progress;
  if (world.rank() == 0 && total > 0)
    progress = std::make_unique<ProgressThread>(counters.local() + kDone, total, previously, spec);

  TaskCache cache(spec.cache_gib);
  pipeline::HeadMemo heads;
  pipeline::TaskLoader loader = [&cache](const std::string& store, const std::string& encoder,
                                         const std::string& dataset) { return cache.get(store, encoder, dataset); };
  const std::string run = plan["run"].get<std::string>();
  FingerprintMemo fingerprints(cache);  // leaders: what each finished triple read
  std::unique_ptr<JournalWriter> journal;
  if (leader) {
    nlohmann::json header = journal_header(spec, run);
    header["world_rank"] = world.rank();
    header["group_size"] = group->size();
    journal = std::make_unique<JournalWriter>(
        (fs::path(journal_directory(spec.output)) / fmt::format("{}-r{}.jsonl", run, world.rank())).string(), header);
  }

  int local_failed = 0;
  const auto per_triple_level = ::isatty(STDERR_FILENO) == 1 ? spdlog::level::debug : spdlog::level::info;
  for (;;) {
    long long next = -1;
    if (leader) next = counters.read(kStop) > 0 ? -1 : counters.fetch_add(kNext, 1);
    group->broadcast(&next, sizeof(next), 0);
    if (next < 0 || next >= total) break;
    const Triple& t = spec.triples[remaining[static_cast<std::size_t>(next)]];
    pipeline::TripleRequest request{spec.file_of(t.encoder, spec.references[t.reference]),
                                    spec.file_of(t.encoder, spec.targets[t.target]), spec.encoders[t.encoder],
                                    spec.references[t.reference], spec.targets[t.target]};
    nlohmann::json record = {{"encoder", request.encoder}, {"reference", request.reference}, {"target", request.target}};
    const auto started = std::chrono::steady_clock::now();
    try {
      record["result"] = pipeline::relate_triple(*group, request, spec.options, loader, nullptr, &heads);
      record["status"] = "ok";
      if (leader)
        record["inputs"] = fingerprints.of_triple(request.reference_store, request.target_store, request.encoder,
                                                  request.reference, request.target);
    } catch (const InputError& error) {
      // Bad data in this triple: every rank of the group read the same data
      // and threw the same error, so the group stays in step.
      record["status"] = "failed";
      record["error"] = error.what();
      ++local_failed;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (leader) {
      record["group_size"] = group->size();
      record["world_rank"] = world.rank();
      record["run"] = run;
      record["finished"] = utc_now();
      journal->append(record);
      counters.fetch_add(kDone, 1);
      if (record["status"] == "ok") {
        const auto& r = record["result"];
        // On a terminal the live bar is the progress display; per-triple lines go to -v.
        spdlog::log(per_triple_level, "{}: relatedness {:.6f} (RW {:.4f}, H {:.4f}, tau*W_d {:.4f}) in {:.2f} s", spec.key(t),
                     r["relatedness"].get<double>(), r["reweighted_loss"].get<double>(),
                     r["label_mismatch"].get<double>(),
                     r["tau"].get<double>() * r["distribution_mismatch"].get<double>(), seconds);
      } else {
        spdlog::warn("{}: failed: {}", spec.key(t), record["error"].get<std::string>());
        if (options.fail_fast) counters.fetch_add(kStop, 1);
      }
    }
  }
  spdlog::debug("task cache: {} hits, {} loads", cache.hits(), cache.misses());
  if (leader) log_hashing(fingerprints, fmt::format("rank {}: input fingerprints", world.rank()).c_str());
  journal.reset();  // this group appends nothing more (a compaction may replace the file)

  world.barrier();
  if (progress) progress->stop();
  const long long stopped = counters.read(kStop);
  world.barrier();
  counters.close();

  int code = kExitSuccess;
  if (world.rank() == 0) {
    if (options.collect) {
      if (locks->make_exclusive_for_compaction()) compact(spec, run);
      else spdlog::info("{}: another run is writing journals here; journals not compacted", spec.output);
      const auto [ok, failed] = collect_results(spec);
      if (failed > 0 || stopped > 0) code = kExitTriplesFailed;
      if (ok + failed < static_cast<int>(spec.triples.size()) && stopped == 0) code = kExitTriplesFailed;
    } else {
      spdlog::info("this part is done; run `taskrel matrix {} --collect` when every part has finished", spec.job_file);
    }
  }
  long long failed_anywhere = world.all_reduce_sum(static_cast<long long>(local_failed));
  if (!options.collect && (failed_anywhere > 0 || stopped > 0)) code = kExitTriplesFailed;
  world.broadcast(&code, sizeof(code), 0);
  if (stopped > 0) spdlog::warn("stopped after a failed triple (--fail-fast); the rest were not run");
  return code;
}

}  // namespace taskrel::matrix
