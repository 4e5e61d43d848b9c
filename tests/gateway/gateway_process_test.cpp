// `gatedrill gateway` as a process: the ready line, a proxied request, SIGTERM -> exit 0, and
// bad flags -> exit 2 before anything starts.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/json.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

// The child with its stdout on a pipe; killed by PID if the test leaves early.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      args.insert(args.begin(), GATEDRILL_BINARY);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(GATEDRILL_BINARY, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  // The first stdout line, or empty after `limit`.
  std::string read_line(int limit_ms = 10000) {
    std::string line;
    while (line.find('\n') == std::string::npos) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, limit_ms) <= 0) return {};
      char buffer[512];
      ssize_t n = ::read(out_, buffer, sizeof buffer);
      if (n <= 0) return {};
      line.append(buffer, static_cast<size_t>(n));
    }
    return line.substr(0, line.find('\n'));
  }

  // Exit code (or 128 + signal), or -1 if it did not exit within `limit`.
  int wait_exit(std::chrono::milliseconds limit) {
    int status = 0;
    bool done = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!done) return -1;
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  bool reaped_ = false;
};

TEST(GatewayProcess, ServesThenStopsCleanlyOnSigterm) {
  SystemTimeSource time;
  FakeIdp idp;
  FakeUpstream upstream;
  Child child({"gateway",     "--name",
               "gw-1",        "--listen",
               "127.0.0.1:0", "--admin-port",
               "0",           "--plaintext",
               "--issuer",    idp.issuer(),
               "--jwks-uri",  idp.jwks_uri(),
               "--audience",  "gatedrill",
               "--algs",      "ES256,RS256",
               "--leeway",    "60000ms",
               "--upstream",  upstream.url(),
               "--threads",   "2"});
  ASSERT_GT(child.pid(), 0);
  std::string ready = child.read_line();
  auto doc = parse_json_object(ready);
  ASSERT_TRUE(doc) << "ready line: " << ready;
  auto port = json_int(*doc, "port");
  auto admin_port = json_int(*doc, "admin_port");
  ASSERT_TRUE(port && *port && admin_port && *admin_port) << ready;

  const std::string base = "http://127.0.0.1:" + std::to_string(**port);
  auto ok =
      http_request("GET", base + "/a",
                   {{"Authorization", "Bearer " + idp.token(time.wall_seconds())}}, {}, quick());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto denied = http_request("GET", base + "/a", {}, {}, quick());
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto health = http_get("http://127.0.0.1:" + std::to_string(**admin_port) + "/healthz", quick());
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 0);
}

TEST(GatewayProcess, BadFlagsExit2) {
  Child child(
      {"gateway", "--listen", "127.0.0.1:0", "--plaintext", "--upstream", "http://127.0.0.1:1"});
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(child.wait_exit(std::chrono::seconds(10)), 2);  // --issuer missing
}

}  // namespace
}  // namespace gatedrill::gateway::test
