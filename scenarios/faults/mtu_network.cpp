#include "scenarios/faults/mtu_network.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace gatedrill {

namespace {

// Unique within the process; the pid tells processes apart.
int next_network_number() {
  static std::atomic<int> counter{0};
  return ++counter;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

Result<int> run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Quiet: the exit status is what we act on.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return make_error("spawn_failed", "cannot run " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

Result<std::unique_ptr<MtuBlackholeNetwork>> MtuBlackholeNetwork::create(
    const MtuNetworkOptions& options) {
  if (::geteuid() != 0) return make_error("netns_unavailable", "network namespaces need root");
  if (options.mtu < 576 || options.mtu >= 1500) {
    return make_error("netns_setup", "mtu must be 576..1499 (the other links are 1500)");
  }
  auto probe = run_command({"ip", "-V"});
  if (!probe || *probe != 0)
    return make_error("netns_unavailable", "the `ip` command (iproute2) is missing");

  std::unique_ptr<MtuBlackholeNetwork> net(new MtuBlackholeNetwork());
  const std::string prefix =
      "gd" + std::to_string(::getpid()) + "n" + std::to_string(next_network_number());
  net->client_ = prefix + "c";
  net->router_ = prefix + "r";
  net->server_ = prefix + "s";
  const std::string& c = net->client_;
  const std::string& r = net->router_;
  const std::string& s = net->server_;
  const std::string mtu = std::to_string(options.mtu);
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", c},
      {"ip", "netns", "add", r},
      {"ip", "netns", "add", s},
      {"ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "r0", "netns", r},
      {"ip", "link", "add", "r1", "netns", r, "type", "veth", "peer", "name", "s0", "netns", s},
      {"ip", "-n", c, "addr", "add", "10.231.1.1/24", "dev", "c0"},
      {"ip", "-n", r, "addr", "add", "10.231.1.2/24", "dev", "r0"},
      {"ip", "-n", r, "addr", "add", "10.231.2.1/24", "dev", "r1"},
      {"ip", "-n", s, "addr", "add", "10.231.2.2/24", "dev", "s0"},
      {"ip", "-n", c, "link", "set", "lo", "up"},
      {"ip", "-n", r, "link", "set", "lo", "up"},
      {"ip", "-n", s, "link", "set", "lo", "up"},
      {"ip", "-n", c, "link", "set", "c0", "up"},
      {"ip", "-n", r, "link", "set", "r0", "up"},
      {"ip", "-n", r, "link", "set", "r1", "up", "mtu", mtu},
      {"ip", "-n", s, "link", "set", "s0", "up", "mtu", mtu},
      {"ip", "-n", c, "route", "add", "default", "via", "10.231.1.2"},
      // The server advertises a full MSS, as a host behind a tunnel that does not know.
      {"ip", "-n", s, "route", "add", "default", "via", "10.231.2.1", "advmss", "1460"},
      {"ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
      {"ip", "-n", r, "route", "add", "blackhole", "default", "table", "100"},
  };
  net->created_ = true;  // from here on the destructor cleans up what exists
  for (const auto& step : steps) {
    auto rc = run_command(step);
    if (!rc || *rc != 0) {
      return make_error("netns_setup", "'" + joined(step) + "' failed" +
                                           (rc ? " with status " + std::to_string(*rc)
                                               : ": " + rc.error().message));
    }
  }
  auto on = net->set_blackhole(true);
  if (!on) return on.error();
  return net;
}

MtuBlackholeNetwork::~MtuBlackholeNetwork() {
  if (!created_) return;
  // Deleting a namespace removes its veth ends, routes and rules with it.
  for (const auto& ns : {client_, router_, server_}) (void)run_command({"ip", "netns", "del", ns});
}

Result<void> MtuBlackholeNetwork::set_blackhole(bool on) {
  if (on == blackhole_) return {};
  std::vector<std::string> argv = {"ip",      "-n",   router_, "rule", on ? "add" : "del",
                                   "ipproto", "icmp", "table", "100"};
  auto rc = run_command(argv);
  if (!rc || *rc != 0) return make_error("netns_setup", "'" + joined(argv) + "' failed");
  blackhole_ = on;
  return {};
}

std::vector<std::string> MtuBlackholeNetwork::exec_prefix(const std::string& ns) const {
  return {"ip", "netns", "exec", ns};
}

}  // namespace gatedrill
