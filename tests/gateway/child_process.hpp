#pragma once
// A `gatedrill` subcommand as a child process for the process tests: its stdout on a pipe (the
// ready line), killed by PID if the test leaves early, and the ready line's fields.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/util/json.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {

class Child {
 public:
  explicit Child(std::vector<std::string> args, std::string binary = GATEDRILL_BINARY) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      args.insert(args.begin(), binary);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
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
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

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

// The port (or another integer field) of a ready line; 0 when absent.
inline int64_t ready_field(const std::string& line, const char* field) {
  auto doc = parse_json_object(line);
  if (!doc) return 0;
  auto v = json_int(*doc, field);
  return v && *v ? **v : 0;
}

// A `gatedrill gateway` on free loopback ports taking `idp`'s tokens (ES256/RS256, audience
// gatedrill) and proxying to `upstream`, with `extra` flags; its ports come from the ready line
// (0 when it did not start). Killed by PID when it goes. `binary`: another gatedrill (benches).
class GatewayChild {
 public:
  GatewayChild(const FakeIdp& idp, const std::string& upstream,
               const std::vector<std::string>& extra, std::string binary = GATEDRILL_BINARY)
      : child_(args(idp, upstream, extra), std::move(binary)), ready_(child_.read_line()) {
    port_ = static_cast<uint16_t>(ready_field(ready_, "port"));
    admin_port_ = static_cast<uint16_t>(ready_field(ready_, "admin_port"));
  }
  uint16_t port() const { return port_; }
  uint16_t admin_port() const { return admin_port_; }
  const std::string& ready() const { return ready_; }
  pid_t pid() const { return child_.pid(); }

 private:
  static std::vector<std::string> args(const FakeIdp& idp, const std::string& upstream,
                                       const std::vector<std::string>& extra) {
    std::vector<std::string> out = {
        "gateway",   "--listen",   "127.0.0.1:0", "--admin-port", "0",
        "--issuer",  idp.issuer(), "--jwks-uri",  idp.jwks_uri(), "--audience",
        "gatedrill", "--algs",     "ES256,RS256", "--upstream",   upstream};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  Child child_;
  std::string ready_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

}  // namespace gatedrill::gateway::test
