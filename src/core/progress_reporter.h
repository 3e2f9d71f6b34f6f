// Progress of every long command (`matrix`, `build-zoo`), one reporter for
// both: a live bar on a terminal, plain log lines in a batch log (a line per
// finished unit that has something to say, and/or a status line every few
// seconds or units), with the rate and an ETA from this run's own pace (units
// an earlier run finished cost nothing now and are counted apart).
#pragma once

#include <chrono>
#include <mutex>
#include <string>

namespace taskrel {

// "42s", "3m07s", "2h05m"; "?" for a negative, NaN or absurd value (an ETA
// before anything finished).
std::string duration_text(double seconds);

// "[#########.....................]": `done` of `total` in `width` cells
// (full when total <= 0).
std::string progress_bar(long long done, long long total, int width = 30);

class ProgressReporter {
 public:
  struct Settings {
    std::string unit = "units";  // what is counted: "triples"
    double line_seconds = 0;     // batch log: a status line at least this often (0: never by time)
    long long line_units = 0;    // ... and/or every this many units (0: never by count)
  };

  // `total` units to do in this run, `earlier` already done by earlier runs.
  ProgressReporter(long long total, long long earlier, Settings settings);

  // `done` of this run's units have finished (never decreases). With `what`
  // (build-zoo: "trained X"), a line "[k/n] what (elapsed, ETA)" in every
  // log; without, a bar on a terminal and the periodic status line otherwise.
  // Safe to call from another thread than the one doing the work.
  void report(long long done, const std::string& what = {});

  // Progress inside one long unit (epochs of a training), terminal only.
  void step(const std::string& what, long long step, long long steps);

  // The last report: a final status line (or the bar's last state and a newline).
  void finish();

  // "12/80 triples (4 earlier), 35.0 triples/h, elapsed 1m02s, ETA 2m10s".
  std::string status() const;
  double elapsed() const;

 private:
  void clear_bar();
  long long total_, earlier_;
  Settings settings_;
  bool terminal_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_line_ = started_;
  long long done_ = 0, done_at_last_line_ = 0;
  bool bar_shown_ = false;
  mutable std::mutex mutex_;
};

}  // namespace taskrel
