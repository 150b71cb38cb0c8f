#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace gradrecomp::cli {

using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kQuietPeriod = std::chrono::seconds(1);
constexpr auto kTerminalInterval = std::chrono::milliseconds(200);
constexpr auto kLogInterval = std::chrono::seconds(2);
}  // namespace

Progress::Progress(bool forced) {
  terminal_ = isatty(STDERR_FILENO) != 0;
  enabled_ = forced || terminal_;
  if (enabled_) thread_ = std::thread([this] { run(); });
}

Progress::~Progress() {
  if (!enabled_) return;
  end();
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Progress::begin(const std::string& label) {
  std::lock_guard lock(mutex_);
  active_ = true;
  drawn_ = false;
  label_ = label;
  what_.clear();
  fraction_ = -1;
  started_ = Clock::now();
  last_draw_ = started_;
}

void Progress::end() {
  std::lock_guard lock(mutex_);
  if (!active_) return;
  if (drawn_) draw_locked(/*final_line=*/true);
  active_ = false;
}

ProgressFn Progress::callback() {
  if (!enabled_) return {};
  return [this](double fraction, std::string_view what) {
    std::lock_guard lock(mutex_);
    fraction_ = fraction;
    what_ = std::string(what);
  };
}

void Progress::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (stop_ || !active_) continue;
    auto now = Clock::now();
    if (now - started_ < kQuietPeriod) continue;
    if (drawn_ && now - last_draw_ < (terminal_ ? Clock::duration(kTerminalInterval) : Clock::duration(kLogInterval))) {
      continue;
    }
    draw_locked(/*final_line=*/false);
  }
}

void Progress::draw_locked(bool final_line) {
  double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  std::string text = fmt::format("gradrecomp: {}", label_);
  if (fraction_ >= 0) text += fmt::format(" {:5.1f}%", fraction_ * 100);
  if (!what_.empty()) text += fmt::format(" {}", what_);
  text += final_line ? fmt::format(" done in {:.1f} s", seconds) : fmt::format(" ({:.1f} s)", seconds);
  if (terminal_) {
    // Clear to the end of the line so a shorter message leaves no tail behind.
    std::fprintf(stderr, "\r%s\033[K%s", text.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
  last_draw_ = Clock::now();
}

}  // namespace gradrecomp::cli
