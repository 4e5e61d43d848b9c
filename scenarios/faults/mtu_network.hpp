#pragma once
// The real-network MTU black hole (root only): three network namespaces, client - router -
// server, where the router->server link has a small MTU and the server advertises a full MSS.
// With the black hole on, the router's ICMP "fragmentation needed" never leaves it (a policy
// route sends locally generated ICMP to a blackhole route; no netfilter needed), so small
// exchanges pass and full-size segments vanish. Turning it off is "fixing the MTU": the next
// retransmission gets its ICMP back and the transfer completes.
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

struct MtuNetworkOptions {
  int mtu = 1400;  // router -> server link
};

class MtuBlackholeNetwork {
 public:
  // Errors: "netns_unavailable" (not root, no `ip`), "netns_setup" with the failing command.
  static Result<std::unique_ptr<MtuBlackholeNetwork>> create(const MtuNetworkOptions& options);
  ~MtuBlackholeNetwork();  // deletes the namespaces
  MtuBlackholeNetwork(const MtuBlackholeNetwork&) = delete;
  MtuBlackholeNetwork& operator=(const MtuBlackholeNetwork&) = delete;

  // On: ICMP from the router is dropped (the black hole). Created on.
  Result<void> set_blackhole(bool on);
  bool blackhole() const { return blackhole_; }

  const std::string& client_ns() const { return client_; }
  const std::string& server_ns() const { return server_; }
  // Where a server in server_ns() is reached from client_ns().
  static const char* server_address() { return "10.231.2.2"; }
  static const char* client_address() { return "10.231.1.1"; }
  // argv prefix that runs a program inside a namespace: ip netns exec NS ...
  std::vector<std::string> exec_prefix(const std::string& ns) const;
  // "/run/netns/NS", for setns(2).
  static std::string ns_path(const std::string& ns) { return "/run/netns/" + ns; }

 private:
  MtuBlackholeNetwork() = default;
  std::string client_, router_, server_;
  bool blackhole_ = false;
  bool created_ = false;
};

// Runs a short command to completion (no shell) and returns its exit status. Errors:
// "spawn_failed".
Result<int> run_command(const std::vector<std::string>& argv);

}  // namespace gatedrill
