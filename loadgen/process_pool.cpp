#include "loadgen/process_pool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "loadgen/interval_wire.hpp"

namespace gatedrill::loadgen {
namespace {

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

LoadOptions share_of(const LoadOptions& options, int processes, int k) {
  LoadOptions out = options;
  int first = options.connections * k / processes;
  out.connections = options.connections * (k + 1) / processes - first;
  out.first_connection = options.first_connection + first;
  out.total_connections =
      options.total_connections > 0 ? options.total_connections : options.connections;
  out.threads = std::min(options.threads, out.connections);
  return out;
}

std::vector<LoadPhase> phases_share(const std::vector<LoadPhase>& phases, double share) {
  std::vector<LoadPhase> out = phases;
  for (auto& p : out) {
    p.rate *= share;
    if (p.rate_to >= 0) p.rate_to *= share;
  }
  return out;
}

// The body of a worker process: run its share, stream every second, then the phase totals and
// the end line. Never returns.
[[noreturn]] void worker_main(TimeSource& time, const LoadRequestSpec& spec,
                              const LoadOptions& options, const std::vector<LoadPhase>& phases,
                              int out_fd) {
  // Die with the parent; take SIGTERM/SIGINT as "stop" (polled once per second), not as death.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  std::atomic<bool> stop{false};
  bool pipe_ok = true;
  auto on_interval = [&](const IntervalStats& s) {
    pipe_ok = pipe_ok && write_all(out_fd, encode_interval_frame(s));
    sigset_t pending;
    sigpending(&pending);
    if (!pipe_ok || sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1)
      stop = true;
  };
  LoadGenerator generator(time, spec, options);
  auto result = generator.run(phases, on_interval, &stop);
  int code = 0;
  if (result) {
    for (size_t i = 0; i < result->phases.size(); ++i)
      pipe_ok = pipe_ok && write_all(out_fd, encode_phase_frame(i, result->phases[i].totals));
    pipe_ok = pipe_ok && write_all(out_fd, encode_end_frame(*result));
  } else {
    LoadSummary failed;
    failed.first_error = result.error().message;
    pipe_ok = pipe_ok && write_all(out_fd, encode_end_frame(failed));
    code = 1;
  }
  ::close(out_fd);
  // _exit: no atexit handlers, no flushing of stdio buffers inherited from the parent.
  ::_exit(pipe_ok ? code : 1);
}

struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  int64_t reported_through = -1;  // the last second it reported
  bool ended = false;             // its end line arrived
  bool closed = false;            // EOF on its pipe
};

}  // namespace

Result<LoadSummary> run_in_processes(TimeSource& time, const LoadRequestSpec& spec,
                                     const LoadOptions& options, int processes,
                                     const std::vector<LoadPhase>& phases,
                                     std::function<void(const IntervalStats&)> on_interval,
                                     const std::atomic<bool>* stop) {
  if (processes < 1 || processes > options.connections)
    return make_error("bad_options", "processes must be 1.." + std::to_string(options.connections) +
                                         " (at most one per connection), got " +
                                         std::to_string(processes));
  // Everything a worker would refuse, refused here, once, before any fork.
  for (int k = 0; k < processes; ++k) {
    LoadOptions share = share_of(options, processes, k);
    double fraction = static_cast<double>(share.connections) / options.connections;
    auto checked = LoadGenerator(time, spec, share).check(phases_share(phases, fraction));
    if (!checked) return checked.error();
  }

  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<Child> children(static_cast<size_t>(processes));
  std::string spawn_error;
  for (int k = 0; k < processes; ++k) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      spawn_error = std::string("pipe: ") + std::strerror(errno);
      break;
    }
    LoadOptions share = share_of(options, processes, k);
    double fraction = static_cast<double>(share.connections) / options.connections;
    pid_t pid = ::fork();
    if (pid < 0) {
      spawn_error = std::string("fork: ") + std::strerror(errno);
      ::close(fds[0]);
      ::close(fds[1]);
      break;
    }
    if (pid == 0) {
      ::close(fds[0]);
      for (int j = 0; j < k; ++j) ::close(children[static_cast<size_t>(j)].fd);
      worker_main(time, spec, share, phases_share(phases, fraction), fds[1]);
    }
    ::close(fds[1]);
    children[static_cast<size_t>(k)].pid = pid;
    children[static_cast<size_t>(k)].fd = fds[0];
  }
  auto reap = [&] {
    for (auto& c : children) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
      if (c.pid > 0) {
        int status = 0;
        while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
        }
        c.pid = -1;
      }
    }
  };
  if (!spawn_error.empty()) {
    for (auto& c : children)
      if (c.pid > 0) ::kill(c.pid, SIGKILL);
    reap();
    return make_error("spawn_failed", spawn_error);
  }

  LoadSummary summary;
  std::map<int64_t, IntervalStats> pending;  // second -> merged so far
  std::vector<IntervalStats> phase_totals(phases.size());
  std::string protocol_error;
  bool stop_sent = false;
  int64_t next_second = 0;
  // A worker that never ends (a fork in a threaded process can inherit a lock someone held) must
  // not hang the run: past the schedule, the response timeout and some grace, workers are killed.
  constexpr int64_t kGraceNs = 5'000'000'000;
  const int64_t timeouts_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  options.timeout + options.connect_timeout)
                                  .count();
  int64_t deadline = time.monotonic_ns() + timeouts_ns + kGraceNs;
  for (const auto& p : phases) deadline += p.duration.count();

  auto handle_line = [&](Child& c, size_t k, std::string_view line) {
    auto frame = decode_frame(line);
    if (!frame) {
      if (protocol_error.empty())
        protocol_error = "worker " + std::to_string(k) + ": " + frame.error().message;
      return;
    }
    switch (frame->kind) {
      case WireFrame::Kind::kInterval: {
        const IntervalStats& in = frame->interval;
        auto [it, fresh] = pending.try_emplace(in.second);
        if (fresh) {
          it->second.second = in.second;
          it->second.phase = in.phase;
        }
        it->second.target_rate += in.target_rate;
        merge_counts(&it->second, in);
        c.reported_through = std::max(c.reported_through, in.second);
        break;
      }
      case WireFrame::Kind::kPhase:
        if (frame->interval.second >= 0 &&
            static_cast<size_t>(frame->interval.second) < phase_totals.size())
          merge_counts(&phase_totals[static_cast<size_t>(frame->interval.second)], frame->interval);
        break;
      case WireFrame::Kind::kEnd:
        c.ended = true;
        summary.elapsed = std::max(summary.elapsed, std::chrono::nanoseconds(frame->elapsed_ns));
        summary.stopped = summary.stopped || frame->stopped;
        if (summary.first_error.empty() && !frame->first_error.empty())
          summary.first_error = frame->first_error;
        break;
    }
  };
  // A second is complete when every worker still running has reported it.
  auto emit_ready = [&] {
    for (;;) {
      bool ready = true;
      for (const auto& c : children)
        if (!c.closed && c.reported_through < next_second) ready = false;
      if (!ready) return;
      auto it = pending.find(next_second);
      if (it == pending.end()) return;  // every worker is past its last second
      IntervalStats merged = std::move(it->second);
      pending.erase(it);
      summary.totals.add(merged);
      if (on_interval) on_interval(merged);
      summary.intervals.push_back(std::move(merged));
      ++next_second;
    }
  };

  std::vector<pollfd> polls;
  char buf[65536];
  for (;;) {
    if (stop != nullptr && stop->load() && !stop_sent) {
      for (const auto& c : children)
        if (!c.closed) ::kill(c.pid, SIGTERM);
      stop_sent = true;
      deadline = std::min(deadline, time.monotonic_ns() + timeouts_ns + kGraceNs);
    }
    if (time.monotonic_ns() > deadline) {
      for (size_t k = 0; k < children.size(); ++k)
        if (!children[k].closed) {
          ::kill(children[k].pid, SIGKILL);
          children[k].closed = true;
          if (protocol_error.empty())
            protocol_error = "worker process " + std::to_string(k) + " did not finish in time";
        }
      break;
    }
    polls.clear();
    std::vector<size_t> which;
    for (size_t k = 0; k < children.size(); ++k)
      if (!children[k].closed) {
        polls.push_back({children[k].fd, POLLIN, 0});
        which.push_back(k);
      }
    if (polls.empty()) break;
    int n = ::poll(polls.data(), polls.size(), 100);  // the tick at which *stop is looked at
    if (n < 0 && errno != EINTR) {
      protocol_error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    for (size_t i = 0; n > 0 && i < polls.size(); ++i) {
      if (polls[i].revents == 0) continue;
      Child& c = children[which[i]];
      ssize_t got = ::read(c.fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        c.closed = true;
        if (!c.ended && protocol_error.empty())
          protocol_error =
              "worker process " + std::to_string(which[i]) + " ended without a summary";
        continue;
      }
      c.buffer.append(buf, static_cast<size_t>(got));
      for (size_t nl; (nl = c.buffer.find('\n')) != std::string::npos;) {
        handle_line(c, which[i], std::string_view(c.buffer).substr(0, nl));
        c.buffer.erase(0, nl + 1);
      }
    }
    emit_ready();
  }
  emit_ready();
  reap();
  // Seconds only some workers reached (one died early): still count them.
  for (auto& [second, merged] : pending) {
    summary.totals.add(merged);
    if (on_interval) on_interval(merged);
    summary.intervals.push_back(std::move(merged));
  }
  if (!protocol_error.empty() && summary.first_error.empty()) summary.first_error = protocol_error;
  for (size_t i = 0; i < phases.size(); ++i)
    summary.phases.push_back(summarize_phase(phases[i], phase_totals[i]));
  return summary;
}

}  // namespace gatedrill::loadgen
