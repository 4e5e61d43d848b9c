#include "scenarios/faults/duty_cycle.hpp"

#include <signal.h>

#include <cerrno>
#include <stdexcept>

namespace gatedrill {

DutyCycle::DutyCycle(pid_t pid, std::chrono::microseconds run, std::chrono::microseconds period)
    : pid_(pid), run_(run), period_(period) {
  if (pid <= 0 || run.count() <= 0 || run >= period) {
    throw std::invalid_argument("DutyCycle needs a pid and 0 < run < period");
  }
  thread_ = std::thread([this] { loop(); });
}

DutyCycle::~DutyCycle() {
  stop();
}

void DutyCycle::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DutyCycle::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto stopping = [this] { return stopping_; };
  while (!stopping_) {
    if (cv_.wait_for(lock, run_, stopping)) break;
    if (::kill(pid_, SIGSTOP) != 0 && errno == ESRCH) {
      gone_ = true;
      break;
    }
    const bool stop_now = cv_.wait_for(lock, period_ - run_, stopping);
    // Always continue before leaving: a drill must never leave its target frozen.
    if (::kill(pid_, SIGCONT) != 0 && errno == ESRCH) {
      gone_ = true;
      break;
    }
    ++cycles_;
    if (stop_now) break;
  }
}

}  // namespace gatedrill
