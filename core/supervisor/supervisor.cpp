#include "core/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/http/http_client.hpp"

extern char** environ;

namespace gatedrill {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kHealthPollInterval{50};
constexpr milliseconds kHealthPollTimeout{1000};
constexpr milliseconds kKillWait{10000};  // after SIGKILL the kernel needs only moments
constexpr size_t kLogTailLines = 20;

std::string errno_text(int error) {
  return std::strerror(error);
}

// The parent's environment with "K=V" overrides from the spec.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  for (const auto& kv : extra) {
    auto key = kv.substr(0, kv.find('=') + 1);
    env.erase(
        std::remove_if(env.begin(), env.end(),
                       [&](const std::string& existing) { return existing.rfind(key, 0) == 0; }),
        env.end());
    env.push_back(kv);
  }
  return env;
}

// Starts the process: stdout and stderr appended to the log, stdin from /dev/null, no other
// inherited descriptors, its own process group, default signal dispositions and an empty mask
// (the parent blocks SIGTERM/SIGINT for its signal-waiting thread and ignores SIGPIPE; a
// child must not inherit either).
Result<pid_t> spawn_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) return make_error("spawn_failed", spec.name + ": empty argv");
  const std::string log_path = spec.log_file.empty() ? "/dev/null" : spec.log_file;
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return make_error("log_file",
                      spec.name + ": cannot open log file " + log_path + ": " + errno_text(errno));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto env_strings = child_environment(spec.env);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log_fd);
  if (rc != 0)
    return make_error("spawn_failed",
                      spec.name + ": cannot start " + spec.argv[0] + ": " + errno_text(rc));
  return pid;
}

// Signals the child's process group (its helpers too), or the child alone if it left the group.
void send_signal(pid_t pid, int signo) {
  if (::kill(-pid, signo) != 0) ::kill(pid, signo);
}

std::string log_tail(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 4096);
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (size_t lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == kLogTailLines) break;
  }
  return text.substr(pos);
}

}  // namespace

int decode_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

struct Supervisor::Impl {
  struct Child {
    ProcessSpec spec;
    pid_t pid = 0;  // 0: not running
    std::optional<int> last_exit;
    uint64_t exits = 0;  // bumps on every exit, for waiters
    int restarts = 0;
    bool restart_pending = false;  // exited, a restart is scheduled
    bool stopping = false;         // stop() asked: no more restarts
    std::thread monitor;
  };

  TimeSource& time;
  mutable std::mutex mutex;
  std::condition_variable changed;  // any child started, exited, or stop was asked
  std::map<std::string, std::unique_ptr<Child>> children;
  bool shutting_down = false;
  std::mutex listeners_mutex;
  std::vector<std::function<void(const ProcessEvent&)>> listeners;

  explicit Impl(TimeSource& t) : time(t) {}

  void emit(ProcessEvent::Kind kind, const std::string& name, pid_t pid, int exit_status = 0) {
    ProcessEvent event{kind, name, pid, exit_status, time.wall_ms()};
    std::lock_guard lock(listeners_mutex);
    for (const auto& listener : listeners) listener(event);
  }

  bool alive(const Child& child) const { return child.pid != 0 || child.restart_pending; }

  static milliseconds backoff(const RestartPolicy& policy, int restarts) {
    milliseconds delay = policy.initial_backoff;
    for (int i = 0; i < restarts && delay < policy.max_backoff; ++i) delay *= 2;
    return std::min(delay, policy.max_backoff);
  }

  // One thread per child name: waits for the process (only ours, by pid), records how it
  // ended, and applies the restart policy.
  void monitor(Child* child, pid_t pid) {
    const std::string name = child->spec.name;
    for (;;) {
      // WNOWAIT leaves the zombie in place, so the pid cannot be reused while stop() or
      // signal() might still target it; it is reaped below under the lock.
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 &&
             errno == EINTR) {
      }
      std::unique_lock lock(mutex);
      int status = 0;
      int exit_status = -1;
      if (::waitpid(pid, &status, 0) == pid) exit_status = decode_wait_status(status);
      child->pid = 0;
      child->last_exit = exit_status;
      ++child->exits;
      const RestartPolicy& policy = child->spec.restart;
      bool restart = !child->stopping && !shutting_down &&
                     (policy.mode == RestartPolicy::Mode::kAlways ||
                      (policy.mode == RestartPolicy::Mode::kOnFailure && exit_status != 0));
      const bool gave_up = restart && child->restarts >= policy.max_restarts;
      restart = restart && !gave_up;
      child->restart_pending = restart;
      changed.notify_all();
      lock.unlock();

      emit(ProcessEvent::Kind::kExited, name, pid, exit_status);
      if (gave_up) emit(ProcessEvent::Kind::kGaveUp, name, pid, exit_status);
      if (!restart) return;
      emit(ProcessEvent::Kind::kRestarting, name, pid, exit_status);

      lock.lock();
      changed.wait_for(lock, backoff(policy, child->restarts),
                       [&] { return child->stopping || shutting_down; });
      if (child->stopping || shutting_down) {
        child->restart_pending = false;
        changed.notify_all();
        return;
      }
      auto spawned = spawn_process(child->spec);
      child->restart_pending = false;
      if (!spawned) {
        changed.notify_all();
        lock.unlock();
        emit(ProcessEvent::Kind::kGaveUp, name, 0, exit_status);
        return;
      }
      pid = *spawned;
      child->pid = pid;
      ++child->restarts;
      changed.notify_all();
      lock.unlock();
      emit(ProcessEvent::Kind::kStarted, name, pid);
    }
  }

  Child* find(const std::string& name) const {
    auto it = children.find(name);
    return it == children.end() ? nullptr : it->second.get();
  }

  // SIGTERM (with SIGCONT, so a paused child can act on it) to every named running child, then
  // SIGKILL to those still running after grace. Returns with the lock held.
  void terminate(std::unique_lock<std::mutex>& lock, const std::vector<Child*>& targets,
                 milliseconds grace) {
    std::vector<std::pair<Child*, uint64_t>> waiting;
    for (Child* child : targets) {
      child->stopping = true;
      if (child->pid != 0) {
        send_signal(child->pid, SIGTERM);
        send_signal(child->pid, SIGCONT);
        waiting.emplace_back(child, child->exits);
      }
    }
    changed.notify_all();  // wakes restart backoffs
    auto all_exited = [&] {
      return std::all_of(waiting.begin(), waiting.end(),
                         [](const auto& w) { return w.first->exits > w.second; });
    };
    if (changed.wait_for(lock, grace, all_exited)) return;
    for (const auto& [child, exits] : waiting) {
      if (child->exits == exits && child->pid != 0) send_signal(child->pid, SIGKILL);
    }
    changed.wait_for(lock, kKillWait, all_exited);
  }
};

Supervisor::Supervisor(TimeSource& time) : impl_(std::make_unique<Impl>(time)) {}

Supervisor::~Supervisor() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->shutting_down = true;
  }
  stop_all(std::chrono::seconds(2));
  for (auto& [name, child] : impl_->children) {
    if (child->monitor.joinable()) child->monitor.join();
  }
}

void Supervisor::on_event(std::function<void(const ProcessEvent&)> listener) {
  std::lock_guard lock(impl_->listeners_mutex);
  impl_->listeners.push_back(std::move(listener));
}

Result<pid_t> Supervisor::spawn(ProcessSpec spec) {
  std::unique_lock lock(impl_->mutex);
  if (Impl::Child* existing = impl_->find(spec.name)) {
    if (impl_->alive(*existing)) {
      return make_error("duplicate_name", "a process named '" + spec.name + "' is already running");
    }
    // A finished child of the same name: its monitor has returned or is about to.
    std::thread old = std::move(existing->monitor);
    lock.unlock();
    if (old.joinable()) old.join();
    lock.lock();
    impl_->children.erase(spec.name);
  }
  auto spawned = spawn_process(spec);
  if (!spawned) return spawned.error();
  const pid_t pid = *spawned;
  auto child = std::make_unique<Impl::Child>();
  child->spec = std::move(spec);
  child->pid = pid;
  Impl::Child* raw = child.get();
  const std::string name = raw->spec.name;
  impl_->children[name] = std::move(child);
  raw->monitor = std::thread([this, raw, pid] { impl_->monitor(raw, pid); });
  lock.unlock();
  impl_->emit(ProcessEvent::Kind::kStarted, name, pid);
  return pid;
}

Result<void> Supervisor::wait_healthy(const std::string& name, std::chrono::milliseconds timeout) {
  std::string url;
  std::string log_file;
  uint64_t exits_at_start = 0;
  {
    std::lock_guard lock(impl_->mutex);
    Impl::Child* child = impl_->find(name);
    if (!child) return make_error("no_such_process", "no process named '" + name + "'");
    url = child->spec.health_url;
    log_file = child->spec.log_file;
    exits_at_start = child->exits;
    if (child->pid == 0) exits_at_start = child->exits - 1;  // already gone: report it
  }
  auto exited = [&](Impl::Child& child) -> std::optional<Error> {
    if (child.exits == exits_at_start) return std::nullopt;
    std::string message = name + " exited with status " +
                          std::to_string(child.last_exit.value_or(-1)) + " before it was healthy";
    std::string tail = log_tail(log_file);
    if (!tail.empty()) message += "; last lines of " + log_file + ":\n" + tail;
    return make_error("exited", message);
  };

  const auto deadline = impl_->time.monotonic() + timeout;
  std::string last_problem = "no answer yet";
  bool had_full_poll = false;
  for (;;) {
    {
      std::lock_guard lock(impl_->mutex);
      Impl::Child* child = impl_->find(name);
      if (!child) return make_error("no_such_process", "no process named '" + name + "'");
      if (auto error = exited(*child)) return *error;
    }
    if (url.empty()) return {};  // nothing to poll: running is all we can know
    auto remaining = std::chrono::duration_cast<milliseconds>(deadline - impl_->time.monotonic());
    if (remaining <= milliseconds(0)) break;
    HttpClientOptions options;
    options.timeout = std::min(remaining, kHealthPollTimeout);
    auto response = http_get(url, options);
    if (response && response->status == 200) return {};
    // A poll cut short by our own deadline says nothing about the child; keep what the last
    // full poll found (e.g. "HTTP 503 warming up", or "connection refused") instead.
    const bool cut_short = !response && response.error().code == "timeout" &&
                           options.timeout < kHealthPollTimeout && had_full_poll;
    if (!cut_short) {
      last_problem = response ? "HTTP " + std::to_string(response->status) + " " + response->body
                              : response.error().message;
      had_full_poll = true;
    }
    // Between polls, wake at once if the child exits.
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait_for(lock, kHealthPollInterval, [&] {
      Impl::Child* child = impl_->find(name);
      return !child || child->exits != exits_at_start;
    });
  }
  return make_error("unhealthy", name + " not healthy after " + std::to_string(timeout.count()) +
                                     " ms at " + url + ": " + last_problem);
}

Result<int> Supervisor::stop(const std::string& name, std::chrono::milliseconds grace) {
  std::unique_lock lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child) return make_error("no_such_process", "no process named '" + name + "'");
  const uint64_t exits_before = child->exits;
  const bool was_running = child->pid != 0;
  impl_->terminate(lock, {child}, grace);
  if (was_running && child->exits == exits_before) {
    return make_error(
        "timeout", name + " (pid " + std::to_string(child->pid) + ") did not exit after SIGKILL");
  }
  if (!child->last_exit) return make_error("no_such_process", name + " has not run");
  return *child->last_exit;
}

void Supervisor::stop_all(std::chrono::milliseconds grace) {
  std::unique_lock lock(impl_->mutex);
  std::vector<Impl::Child*> targets;
  for (auto& [name, child] : impl_->children) targets.push_back(child.get());
  impl_->terminate(lock, targets, grace);
}

Result<void> Supervisor::signal(const std::string& name, int signo) {
  std::lock_guard lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child || child->pid == 0)
    return make_error("no_such_process", "no running process named '" + name + "'");
  send_signal(child->pid, signo);
  return {};
}

std::optional<pid_t> Supervisor::pid(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child || child->pid == 0) return std::nullopt;
  return child->pid;
}

std::optional<ProcessSpec> Supervisor::spec(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child) return std::nullopt;
  return child->spec;
}

std::optional<int> Supervisor::exit_status(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child) return std::nullopt;
  return child->last_exit;
}

int Supervisor::restarts(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  return child ? child->restarts : 0;
}

Result<int> Supervisor::wait_exit(const std::string& name, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  Impl::Child* child = impl_->find(name);
  if (!child) return make_error("no_such_process", "no process named '" + name + "'");
  if (child->pid == 0 && !child->restart_pending && child->last_exit) return *child->last_exit;
  const uint64_t exits_before = child->exits;
  if (!impl_->changed.wait_for(lock, timeout, [&] { return child->exits != exits_before; })) {
    return make_error("timeout",
                      name + " still running after " + std::to_string(timeout.count()) + " ms");
  }
  return *child->last_exit;
}

}  // namespace gatedrill
