#include "scenarios/faults/fault_network.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>

extern char** environ;

namespace gatedrill {

namespace {

constexpr int kFullMtu = 1500;

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

Result<void> run_step(const std::vector<std::string>& argv) {
  auto rc = run_command(argv);
  if (rc && *rc == 0) return {};
  return make_error("netns_setup",
                    "'" + joined(argv) + "' failed" +
                        (rc ? " with status " + std::to_string(*rc) : ": " + rc.error().message));
}

bool command_works(const std::vector<std::string>& argv) {
  auto rc = run_command(argv);
  return rc && *rc == 0;
}

// Namespaces are named gd<pid>n<k><role>; those whose creator is gone were left by a process
// that was killed before its teardown ran.
void remove_orphaned_namespaces() {
  DIR* dir = ::opendir("/run/netns");
  if (!dir) return;
  std::vector<std::string> orphans;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    int pid = 0;
    int number = 0;
    char role = 0;
    if (std::sscanf(name.c_str(), "gd%dn%d%c", &pid, &number, &role) != 3 || pid <= 0) continue;
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) orphans.push_back(name);
  }
  ::closedir(dir);
  for (const auto& ns : orphans) (void)run_command({"ip", "netns", "del", ns});
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

Result<int> socket_in_netns(const std::string& ns, int domain, int type) {
  if (ns.empty()) {
    int fd = ::socket(domain, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("netns", std::string("socket: ") + std::strerror(errno));
    return fd;
  }
  int fd = -1;
  std::string failure;
  // setns(CLONE_NEWNET) changes only the calling thread; this thread ends right after.
  auto enter_and_create = [&] {
    int ns_fd = ::open(FaultNetwork::ns_path(ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) {
      failure = "cannot open namespace '" + ns + "': " + std::strerror(errno);
      return;
    }
    if (::setns(ns_fd, CLONE_NEWNET) != 0) {
      failure = "cannot enter namespace '" + ns + "': " + std::strerror(errno);
    } else {
      fd = ::socket(domain, type | SOCK_CLOEXEC, 0);
      if (fd < 0) failure = std::string("socket: ") + std::strerror(errno);
    }
    ::close(ns_fd);
  };
  try {
    std::thread(enter_and_create).join();
  } catch (const std::system_error& e) {
    return make_error("netns", std::string("cannot start a thread: ") + e.what());
  }
  if (fd < 0) return make_error("netns", failure);
  return fd;
}

std::string FaultNetwork::unavailable_reason() {
  if (::geteuid() != 0) return "network namespaces need root";
  if (!command_works({"ip", "-V"})) return "the ip command (iproute2) is missing";
  return "";
}

std::string FaultNetwork::loss_unavailable_reason() {
  if (auto r = unavailable_reason(); !r.empty()) return r;
  if (!command_works({"iptables", "-V"}))
    return "the iptables command is missing (Debian package iptables)";
  return "";
}

std::string FaultNetwork::rate_unavailable_reason() {
  if (auto r = unavailable_reason(); !r.empty()) return r;
  if (!command_works({"tc", "-V"})) return "the tc command (iproute2) is missing";
  return "";
}

Result<std::unique_ptr<FaultNetwork>> FaultNetwork::create() {
  if (auto reason = unavailable_reason(); !reason.empty())
    return make_error("netns_unavailable", reason);
  remove_orphaned_namespaces();

  std::unique_ptr<FaultNetwork> net(new FaultNetwork());
  const std::string prefix =
      "gd" + std::to_string(::getpid()) + "n" + std::to_string(next_network_number());
  net->client_ = prefix + "c";
  net->router_ = prefix + "r";
  net->server_ = prefix + "s";
  const std::string& c = net->client_;
  const std::string& r = net->router_;
  const std::string& s = net->server_;
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
      {"ip", "-n", r, "link", "set", "r1", "up"},
      {"ip", "-n", s, "link", "set", "s0", "up"},
      // Both ends advertise a full MSS whatever their own link's MTU, as hosts behind a tunnel
      // that do not know about it.
      {"ip", "-n", c, "route", "add", "default", "via", "10.231.1.2", "advmss", "1460"},
      {"ip", "-n", s, "route", "add", "default", "via", "10.231.2.1", "advmss", "1460"},
      {"ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
      // The black hole for the router's own ICMP (frag-needed above all).
      {"ip", "-n", r, "route", "add", "blackhole", "default", "table", "100"},
      {"ip", "-n", r, "rule", "add", "ipproto", "icmp", "table", "100"},
  };
  net->created_ = true;  // from here on the destructor cleans up what exists
  for (const auto& step : steps)
    if (auto ok = run_step(step); !ok) return ok.error();
  return net;
}

FaultNetwork::~FaultNetwork() {
  if (!created_) return;
  // Deleting a namespace removes its veth ends, routes, rules and qdiscs with it.
  for (const auto& ns : {client_, router_, server_}) (void)run_command({"ip", "netns", "del", ns});
}

Result<void> FaultNetwork::set_mtu(Stream stream, int mtu) {
  if (mtu != 0 && (mtu < 576 || mtu >= kFullMtu))
    return make_error("netns_setup", "mtu must be 576..1499 (the links are 1500)");
  const int value = mtu == 0 ? kFullMtu : mtu;
  // Upstream segments cross router -> server; downstream ones router -> client. Both ends of
  // the link change, or the veth would drop the other direction's full-size frames silently.
  const bool up = stream == Stream::kUpstream;
  const std::string& far = up ? server_ : client_;
  const char* router_link = up ? "r1" : "r0";
  const char* far_link = up ? "s0" : "c0";
  const std::string text = std::to_string(value);
  if (auto ok = run_step({"ip", "-n", router_, "link", "set", router_link, "mtu", text}); !ok)
    return ok;
  if (auto ok = run_step({"ip", "-n", far, "link", "set", far_link, "mtu", text}); !ok) return ok;
  of(stream).mtu = mtu;
  return {};
}

Result<void> FaultNetwork::set_loss(Stream stream, double probability) {
  if (probability < 0 || probability >= 1)
    return make_error("netns_setup", "loss probability must be 0 <= p < 1");
  const char* in = stream == Stream::kUpstream ? "r0" : "r1";
  auto rule = [&](const char* op, const std::string& p) -> std::vector<std::string> {
    return {"ip", "netns",     "exec",   router_,  "iptables",      "-w", op,   "FORWARD", "-i", in,
            "-m", "statistic", "--mode", "random", "--probability", p,    "-j", "DROP"};
  };
  Impairment& current = of(stream);
  if (!current.loss.empty()) {
    if (auto ok = run_step(rule("-D", current.loss)); !ok) return ok;
    current.loss.clear();
  }
  if (probability == 0) return {};
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", probability);
  if (auto ok = run_step(rule("-A", text)); !ok) return ok;
  current.loss = text;
  return {};
}

Result<void> FaultNetwork::set_rate(Stream stream, int64_t bytes_per_second) {
  if (bytes_per_second != 0 && bytes_per_second < 1000)
    return make_error("netns_setup", "rate must be >= 1000 bytes/s");
  const char* out = stream == Stream::kUpstream ? "r1" : "r0";
  Impairment& current = of(stream);
  if (bytes_per_second == 0) {
    if (current.rate == 0) return {};
    if (auto ok = run_step({"tc", "-n", router_, "qdisc", "del", "dev", out, "root"}); !ok)
      return ok;
    current.rate = 0;
    return {};
  }
  // A bucket of 20 ms at the rate (at least two full frames), a queue of at most 200 ms:
  // beyond it the router drops, and TCP settles at the rate.
  const int64_t burst = std::max<int64_t>(3200, bytes_per_second / 50);
  if (auto ok = run_step({"tc", "-n", router_, "qdisc", "replace", "dev", out, "root", "tbf",
                          "rate", std::to_string(bytes_per_second * 8) + "bit", "burst",
                          std::to_string(burst), "latency", "200ms"});
      !ok)
    return ok;
  current.rate = bytes_per_second;
  return {};
}

}  // namespace gatedrill
