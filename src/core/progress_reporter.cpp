#include "core/progress_reporter.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace taskrel {

std::string duration_text(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const long long s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>((s % 3600) / 60));
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
  return fmt::format("{}s", s);
}

std::string progress_bar(long long done, long long total, int width) {
  const long long filled = total > 0 ? std::clamp(width * done / total, 0LL, static_cast<long long>(width)) : width;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

ProgressReporter::ProgressReporter(long long total, long long earlier, Settings settings)
    : total_(total), earlier_(earlier), settings_(std::move(settings)), terminal_(::isatty(STDERR_FILENO) == 1) {}

double ProgressReporter::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

std::string ProgressReporter::status() const {
  const long long count = std::min(done_, total_);
  const double seconds = elapsed();
  const double per_hour = seconds > 0 ? 3600.0 * static_cast<double>(count) / seconds : 0.0;
  const double eta = count > 0 ? seconds / static_cast<double>(count) * static_cast<double>(total_ - count) : -1;
  return fmt::format("{}/{} {} ({} earlier), {:.1f} {}/h, elapsed {}, ETA {}", count + earlier_, total_ + earlier_,
                     settings_.unit, earlier_, per_hour, settings_.unit, duration_text(seconds),
                     count == total_ ? "0s" : duration_text(eta));
}

void ProgressReporter::clear_bar() {
  if (bar_shown_) std::fprintf(stderr, "\r%100s\r", "");
  bar_shown_ = false;
}

void ProgressReporter::report(long long done, const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = std::max(done_, done);
  const auto now = std::chrono::steady_clock::now();
  if (!what.empty()) {
    clear_bar();
    const long long count = std::min(done_, total_);
    const double seconds = elapsed();
    const double eta = count > 0 ? seconds / static_cast<double>(count) * static_cast<double>(total_ - count) : -1;
    spdlog::info("[{}/{}] {} (elapsed {}, ETA {})", count + earlier_, total_ + earlier_, what, duration_text(seconds),
                 duration_text(eta));
    return;
  }
  if (terminal_) {
    std::fprintf(stderr, "\r%s %s   ", progress_bar(done_ + earlier_, total_ + earlier_).c_str(), status().c_str());
    std::fflush(stderr);
    bar_shown_ = true;
    return;
  }
  const bool by_time = settings_.line_seconds > 0 &&
                       std::chrono::duration<double>(now - last_line_).count() >= settings_.line_seconds;
  const bool by_count = settings_.line_units > 0 && done_ - done_at_last_line_ >= settings_.line_units;
  if (by_time || by_count) {
    spdlog::info("progress: {}", status());
    last_line_ = now;
    done_at_last_line_ = done_;
  }
}

void ProgressReporter::step(const std::string& what, long long step, long long steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!terminal_ || (step % 10 != 0 && step != steps)) return;
  std::fprintf(stderr, "\r  %s %s %lld/%lld", what.c_str(), progress_bar(step, std::max(1LL, steps)).c_str(), step,
               steps);
  std::fflush(stderr);
  bar_shown_ = true;
}

void ProgressReporter::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (terminal_ && bar_shown_) {
    std::fprintf(stderr, "\r%s %s   \n", progress_bar(done_ + earlier_, total_ + earlier_).c_str(), status().c_str());
    std::fflush(stderr);
    bar_shown_ = false;
  } else if (!terminal_) {
    spdlog::info("progress: {}", status());
  }
}

}  // namespace taskrel
