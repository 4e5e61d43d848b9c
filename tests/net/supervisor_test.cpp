#include "core/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"
#include "core/http/http_server.hpp"
#include "tests/eventually.hpp"
#include "tests/net/net_test_support.hpp"

extern char** environ;

namespace gatedrill {
namespace {

using namespace std::chrono_literals;
using Kind = ProcessEvent::Kind;

// Collects supervisor events and lets a test wait for one.
class EventLog {
 public:
  void attach(Supervisor& supervisor) {
    supervisor.on_event([this](const ProcessEvent& e) {
      {
        std::lock_guard lock(mutex_);
        events_.push_back(e);
      }
      signal_.notify();
    });
  }
  bool wait_for_kind(Kind kind, std::chrono::milliseconds timeout) {
    return signal_.wait_for(timeout, [&] { return count(kind) > 0; });
  }
  size_t count(Kind kind) {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(
        std::count_if(events_.begin(), events_.end(), [&](auto& e) { return e.kind == kind; }));
  }
  std::vector<ProcessEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<ProcessEvent> events_;
  test::Signal signal_;
};

class SupervisorTest : public ::testing::Test {
 protected:
  ProcessSpec shell(const std::string& name, const std::string& script) {
    ProcessSpec spec;
    spec.name = name;
    spec.argv = {"/bin/sh", "-c", script};
    spec.log_file = dir_.file(name + ".log");
    return spec;
  }
  // Waits (bounded) until the child's log contains `text`.
  bool log_contains(const std::string& name, const std::string& text,
                    std::chrono::milliseconds timeout = 5s) {
    test::Signal poll;
    return poll.wait_for(timeout, [&] {
      return test::read_file(dir_.file(name + ".log")).find(text) != std::string::npos;
    });
  }

  test::ScratchDir dir_;
  SystemTimeSource time_;
  EventLog events_;
  Supervisor supervisor_{time_};
};

TEST_F(SupervisorTest, ReportsTheExitCode) {
  events_.attach(supervisor_);
  auto pid = supervisor_.spawn(shell("seven", "exit 7"));
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  auto status = supervisor_.wait_exit("seven", 5s);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 7);
  EXPECT_EQ(supervisor_.exit_status("seven"), 7);
  EXPECT_FALSE(supervisor_.pid("seven").has_value());
  ASSERT_TRUE(events_.wait_for_kind(Kind::kExited, 5s));
  auto events = events_.events();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kStarted);
  EXPECT_EQ(events[0].pid, *pid);
  EXPECT_EQ(events[1].kind, Kind::kExited);
  EXPECT_EQ(events[1].exit_status, 7);
  EXPECT_EQ(events[1].name, "seven");
  EXPECT_GT(events[1].wall_ms, 0);
}

TEST_F(SupervisorTest, DeathBySigkillIs137) {
  ASSERT_TRUE(supervisor_.spawn(shell("killed", "kill -9 $$")).ok());
  auto status = supervisor_.wait_exit("killed", 5s);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, 137);
}

TEST_F(SupervisorTest, StopSendsSigtermToACooperativeChild) {
  ASSERT_TRUE(supervisor_.spawn(shell("sleeper", "echo ready; exec sleep 30")).ok());
  ASSERT_TRUE(log_contains("sleeper", "ready"));
  const auto began = time_.monotonic();
  auto status = supervisor_.stop("sleeper", 10s);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 128 + SIGTERM);
  EXPECT_LT(time_.monotonic() - began, 5s);  // it did not wait for the grace period
  EXPECT_FALSE(supervisor_.pid("sleeper").has_value());
}

TEST_F(SupervisorTest, StopKillsAChildThatIgnoresSigtermAfterGrace) {
  ASSERT_TRUE(supervisor_.spawn(shell("stubborn", "trap '' TERM; echo ready; exec sleep 30")).ok());
  ASSERT_TRUE(log_contains("stubborn", "ready"));
  const auto began = time_.monotonic();
  auto status = supervisor_.stop("stubborn", 300ms);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 137);
  EXPECT_GE(time_.monotonic() - began, 300ms);
}

TEST_F(SupervisorTest, RestartsOnFailureWithBackoffThenGivesUp) {
  events_.attach(supervisor_);
  auto spec = shell("flaky", "echo attempt; exit 3");
  spec.restart.mode = RestartPolicy::Mode::kOnFailure;
  spec.restart.max_restarts = 2;
  spec.restart.initial_backoff = 60ms;
  spec.restart.max_backoff = 100ms;
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  ASSERT_TRUE(events_.wait_for_kind(Kind::kGaveUp, 10s));
  EXPECT_EQ(supervisor_.restarts("flaky"), 2);
  EXPECT_EQ(supervisor_.exit_status("flaky"), 3);

  std::vector<Kind> kinds;
  auto events = events_.events();
  for (const auto& e : events) kinds.push_back(e.kind);
  const std::vector<Kind> expected = {Kind::kStarted, Kind::kExited, Kind::kRestarting,
                                      Kind::kStarted, Kind::kExited, Kind::kRestarting,
                                      Kind::kStarted, Kind::kExited, Kind::kGaveUp};
  EXPECT_EQ(kinds, expected);
  // Backoff: 60 ms, then doubled to 120 and capped at 100 ms.
  ASSERT_EQ(events.size(), expected.size());
  EXPECT_GE(events[3].wall_ms - events[1].wall_ms, 60);
  EXPECT_GE(events[6].wall_ms - events[4].wall_ms, 100);
  // stdout of every attempt is appended to the one log.
  std::string log = test::read_file(spec.log_file);
  size_t attempts = 0;
  for (size_t pos = log.find("attempt"); pos != std::string::npos;
       pos = log.find("attempt", pos + 1))
    ++attempts;
  EXPECT_EQ(attempts, 3u);
}

TEST_F(SupervisorTest, OnFailureDoesNotRestartACleanExit) {
  events_.attach(supervisor_);
  auto spec = shell("clean", "exit 0");
  spec.restart.mode = RestartPolicy::Mode::kOnFailure;
  spec.restart.initial_backoff = 10ms;
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  auto status = supervisor_.wait_exit("clean", 5s);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, 0);
  EXPECT_EQ(supervisor_.restarts("clean"), 0);
  EXPECT_EQ(events_.count(Kind::kRestarting), 0u);
}

TEST_F(SupervisorTest, StopDuringBackoffCancelsTheRestart) {
  events_.attach(supervisor_);
  auto spec = shell("looping", "exit 0");
  spec.restart.mode = RestartPolicy::Mode::kAlways;
  spec.restart.initial_backoff = 60s;
  spec.restart.max_backoff = 60s;
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  ASSERT_TRUE(events_.wait_for_kind(Kind::kRestarting, 5s));
  const auto began = time_.monotonic();
  auto status = supervisor_.stop("looping", 1s);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 0);
  EXPECT_LT(time_.monotonic() - began, 5s);
  EXPECT_EQ(supervisor_.restarts("looping"), 0);
  EXPECT_FALSE(supervisor_.pid("looping").has_value());
}

TEST_F(SupervisorTest, KillSignalAppliesTheRestartPolicy) {
  events_.attach(supervisor_);
  auto spec = shell("victim", "echo up; exec sleep 30");
  spec.restart.mode = RestartPolicy::Mode::kOnFailure;
  spec.restart.initial_backoff = 10ms;
  auto first = supervisor_.spawn(spec);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(supervisor_.signal("victim", SIGKILL).ok());
  test::Signal poll;
  ASSERT_TRUE(poll.wait_for(5s, [&] {
    auto pid = supervisor_.pid("victim");
    return pid && *pid != *first;
  }));
  EXPECT_EQ(supervisor_.restarts("victim"), 1);
  EXPECT_EQ(supervisor_.exit_status("victim"), 137);
  auto stopped = supervisor_.stop("victim", 5s);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 128 + SIGTERM);
}

TEST_F(SupervisorTest, ChildRunsInItsOwnProcessGroupWithExtraEnv) {
  auto spec = shell("env", "echo value=$GATEDRILL_NET_TEST; exec sleep 30");
  spec.env = {"GATEDRILL_NET_TEST=hello"};
  auto pid = supervisor_.spawn(spec);
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(getpgid(*pid), *pid);
  EXPECT_NE(getpgid(*pid), getpgrp());
  ASSERT_TRUE(log_contains("env", "value=hello\n"));
  ASSERT_TRUE(supervisor_.stop("env", 5s).ok());
}

TEST_F(SupervisorTest, SpawnErrors) {
  ProcessSpec missing;
  missing.name = "missing";
  missing.argv = {dir_.file("no-such-binary")};
  missing.log_file = dir_.file("missing.log");
  auto spawned = supervisor_.spawn(missing);
  ASSERT_FALSE(spawned.ok());
  EXPECT_EQ(spawned.error().code, "spawn_failed");

  auto bad_log = shell("bad-log", "exit 0");
  bad_log.log_file = dir_.file("no-dir/x.log");
  auto logged = supervisor_.spawn(bad_log);
  ASSERT_FALSE(logged.ok());
  EXPECT_EQ(logged.error().code, "log_file");

  ASSERT_TRUE(supervisor_.spawn(shell("twice", "exec sleep 30")).ok());
  auto duplicate = supervisor_.spawn(shell("twice", "exit 0"));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, "duplicate_name");

  EXPECT_EQ(supervisor_.stop("nobody", 1s).error().code, "no_such_process");
  EXPECT_EQ(supervisor_.signal("nobody", SIGTERM).error().code, "no_such_process");
  EXPECT_EQ(supervisor_.wait_exit("nobody", 1s).error().code, "no_such_process");
  EXPECT_EQ(supervisor_.wait_healthy("nobody", 1s).error().code, "no_such_process");
}

TEST_F(SupervisorTest, WaitExitTimesOut) {
  ASSERT_TRUE(supervisor_.spawn(shell("long", "exec sleep 30")).ok());
  auto status = supervisor_.wait_exit("long", 100ms);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, "timeout");
}

TEST_F(SupervisorTest, WaitHealthyAgainstARealAdminServer) {
  auto port = allocate_port();
  ASSERT_TRUE(port.ok());
  ProcessSpec spec;
  spec.name = "admin";
  spec.argv = {NET_ADMIN_HELPER, std::to_string(*port)};
  spec.log_file = dir_.file("admin.log");
  spec.health_url = "http://127.0.0.1:" + std::to_string(*port) + "/healthz";
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  auto healthy = supervisor_.wait_healthy("admin", 10s);
  ASSERT_TRUE(healthy.ok()) << healthy.error().message;
  auto response = http_get(spec.health_url);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  auto stopped = supervisor_.stop("admin", 5s);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, 0);  // graceful: it handled SIGTERM
  EXPECT_NE(test::read_file(spec.log_file).find("\"component\":\"net_admin_helper\""),
            std::string::npos);
}

TEST_F(SupervisorTest, WaitHealthyReportsAnUnhealthyChild) {
  auto port = allocate_port();
  ASSERT_TRUE(port.ok());
  ProcessSpec spec;
  spec.name = "warming";
  spec.argv = {NET_ADMIN_HELPER, std::to_string(*port), "unhealthy"};
  spec.log_file = dir_.file("warming.log");
  spec.health_url = "http://127.0.0.1:" + std::to_string(*port) + "/healthz";
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  // Starting the child can take longer than the 700 ms below on a busy machine; wait until it
  // answers at all, so the report has an answer to quote.
  ASSERT_TRUE(test::eventually(
      [&] { return http_get(spec.health_url, test::with_timeout(1s)).ok(); }, 10s));
  auto healthy = supervisor_.wait_healthy("warming", 700ms);
  ASSERT_FALSE(healthy.ok());
  EXPECT_EQ(healthy.error().code, "unhealthy");
  EXPECT_NE(healthy.error().message.find("warming up"), std::string::npos)
      << healthy.error().message;
}

TEST_F(SupervisorTest, WaitHealthyReportsAChildThatExitsWithItsLog) {
  auto port = allocate_port();
  ASSERT_TRUE(port.ok());
  ProcessSpec spec;
  spec.name = "broken";
  spec.argv = {NET_ADMIN_HELPER, std::to_string(*port), "fail"};
  spec.log_file = dir_.file("broken.log");
  spec.health_url = "http://127.0.0.1:" + std::to_string(*port) + "/healthz";
  ASSERT_TRUE(supervisor_.spawn(spec).ok());
  auto healthy = supervisor_.wait_healthy("broken", 10s);
  ASSERT_FALSE(healthy.ok());
  EXPECT_EQ(healthy.error().code, "exited");
  EXPECT_NE(healthy.error().message.find("status 3"), std::string::npos) << healthy.error().message;
  EXPECT_NE(healthy.error().message.find("missing key 'issuer'"), std::string::npos)
      << healthy.error().message;
}

TEST_F(SupervisorTest, DestructorStopsEveryChild) {
  pid_t pid = 0;
  {
    Supervisor local(time_);
    auto spawned = local.spawn(shell("orphan-candidate", "exec sleep 30"));
    ASSERT_TRUE(spawned.ok());
    pid = *spawned;
  }
  // Reaped by the supervisor: the pid is no longer our child.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(AllocatePort, ReturnsABindablePort) {
  auto port = allocate_port();
  ASSERT_TRUE(port.ok()) << port.error().message;
  EXPECT_GT(*port, 0);
  HttpServerOptions options;
  options.port = *port;
  HttpServer server(options);
  auto started = server.start();
  EXPECT_TRUE(started.ok()) << started.error().message;
  EXPECT_EQ(server.port(), *port);
}

TEST(AllocatePort, ComesFromBelowTheEphemeralRangeWhereTheKernelNeverAssignsOne) {
  std::ifstream range_file("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned ephemeral_first = 0;
  ASSERT_TRUE(range_file >> ephemeral_first);
  if (ephemeral_first < kLowestAllocatedPort + 1000)
    GTEST_SKIP() << "no room below " << ephemeral_first;
  for (int i = 0; i < 50; ++i) {
    auto port = allocate_port();
    ASSERT_TRUE(port.ok()) << port.error().message;
    EXPECT_GE(*port, kLowestAllocatedPort);
    EXPECT_LT(*port, ephemeral_first);
  }
}

TEST(AllocatePort, NeverHandsOutAPortTwiceWhileItIsReserved) {
  std::set<uint16_t> seen;
  for (int i = 0; i < 2000; ++i) {
    auto port = allocate_port();
    ASSERT_TRUE(port.ok()) << port.error().message;
    EXPECT_TRUE(seen.insert(*port).second) << "port " << *port << " handed out twice";
  }
}

// Another process's reservations are skipped: with 1000 random ports each out of ~20k, two
// processes that did not see each other's would share ~45 of them.
TEST(AllocatePort, TwoProcessesNeverGetTheSamePort) {
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  std::string helper = NET_PORT_HELPER;
  std::string count = "1000";
  char* argv[] = {helper.data(), count.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);

  std::set<uint16_t> theirs;
  FILE* out = ::fdopen(from_child[0], "r");
  ASSERT_NE(out, nullptr);
  char line[32];
  bool ready = false;
  while (!ready && std::fgets(line, sizeof line, out)) {
    ready = std::string(line) == "ready\n";
    if (!ready) theirs.insert(static_cast<uint16_t>(std::atoi(line)));
  }
  ASSERT_TRUE(ready) << "the helper stopped early";
  EXPECT_EQ(theirs.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    auto port = allocate_port();
    ASSERT_TRUE(port.ok()) << port.error().message;
    EXPECT_EQ(theirs.count(*port), 0u) << "port " << *port << " is reserved by the helper";
  }
  ::close(to_child[1]);  // lets the helper exit
  std::fclose(out);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(decode_wait_status(status), 0);
}

TEST(DecodeWaitStatus, ExitCodesAndSignals) {
  EXPECT_EQ(decode_wait_status(0), 0);
  EXPECT_EQ(decode_wait_status(3 << 8), 3);     // exited with 3
  EXPECT_EQ(decode_wait_status(SIGKILL), 137);  // killed by signal 9
  EXPECT_EQ(decode_wait_status(SIGTERM), 143);
}

}  // namespace
}  // namespace gatedrill
