#pragma once
// Child processes of a run: spawn with their own log file, wait for /healthz, stop with SIGTERM
// then SIGKILL after a grace period, restart with backoff, and report how each one ended.
// Exit status convention: a normal exit is its code; death by signal n is 128 + n (an OOM kill,
// SIGKILL, reads 137), as shells report it.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/supervisor/free_port.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct RestartPolicy {
  enum class Mode { kNever, kOnFailure, kAlways };
  Mode mode = Mode::kNever;
  int max_restarts = 5;
  std::chrono::milliseconds initial_backoff{200};  // doubles after each restart ...
  std::chrono::milliseconds max_backoff{5000};     // ... up to this
};

struct ProcessSpec {
  std::string name;               // "gw-1"
  std::vector<std::string> argv;  // argv[0] is the executable path
  std::string log_file;           // stdout + stderr, appended across restarts
  std::vector<std::string> env;   // extra "K=V" on top of the parent's environment
  std::string health_url;         // "http://127.0.0.1:P/healthz"; empty: no health check
  RestartPolicy restart;
};

// What happened to a child, for the results store's events table.
struct ProcessEvent {
  enum class Kind { kStarted, kExited, kRestarting, kGaveUp };
  Kind kind;
  std::string name;
  pid_t pid = 0;
  int exit_status = 0;  // kExited: code, or 128 + signal
  int64_t wall_ms = 0;
};

class Supervisor {
 public:
  explicit Supervisor(TimeSource& time);
  ~Supervisor();  // stops every child (SIGTERM, then SIGKILL after 2 s)

  void on_event(std::function<void(const ProcessEvent&)> listener);

  // Errors: "duplicate_name", "spawn_failed" (with errno text), "log_file".
  Result<pid_t> spawn(ProcessSpec spec);
  // Polls health_url until it answers 200, the child exits, or timeout passes.
  // Errors: "unhealthy" (last answer/connection error), "exited" (with exit status and the
  // tail of its log), "no_such_process".
  Result<void> wait_healthy(const std::string& name, std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after grace. Returns the exit status. Disables restarts for it.
  Result<int> stop(const std::string& name, std::chrono::milliseconds grace);
  void stop_all(std::chrono::milliseconds grace);
  // Sends a signal (SIGSTOP/SIGCONT for pause faults, SIGKILL for kill faults: the restart
  // policy then applies).
  Result<void> signal(const std::string& name, int signo);

  std::optional<pid_t> pid(const std::string& name) const;  // nullopt when not running
  // The spec a child was spawned with (to start it again after a kill), nullopt if unknown.
  std::optional<ProcessSpec> spec(const std::string& name) const;
  std::optional<int> exit_status(const std::string& name) const;  // last exit, if any
  int restarts(const std::string& name) const;
  // Blocks until the named child has exited (or timeout). Returns its exit status.
  Result<int> wait_exit(const std::string& name, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Exit status of a waitpid() status word: code, or 128 + signal.
int decode_wait_status(int wait_status);

}  // namespace gatedrill
