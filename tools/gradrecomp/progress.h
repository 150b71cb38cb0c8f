// Progress line on stderr for long solver runs.
//
//   gradrecomp::cli::Progress progress(/*forced=*/false);   // shown only if stderr is a terminal
//   progress.begin("chain-dp");
//   options.progress = progress.callback();                 // solvers report (fraction, what)
//   solver.frontier(graph, options);
//   progress.end();
//
// Nothing is printed for work that finishes within one second. After that a background thread
// redraws one line (on a terminal, in place, at most 5 times a second; otherwise a new line at
// most once every 2 seconds) with the elapsed time and the latest fraction the solver reported,
// so a solver that never calls the callback still shows that it is working.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "gradrecomp/solver.h"

namespace gradrecomp::cli {

class Progress {
 public:
  // Enabled when stderr is a terminal or `forced` (the --progress flag).
  explicit Progress(bool forced);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void begin(const std::string& label);
  void end();
  // Thread-safe; cheap enough to call in a solver's inner loop.
  ProgressFn callback();

 private:
  void run();
  void draw_locked(bool final_line);

  bool enabled_ = false;
  bool terminal_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stop_ = false;
  bool active_ = false;
  bool drawn_ = false;
  std::string label_;
  std::string what_;
  double fraction_ = -1;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace gradrecomp::cli
