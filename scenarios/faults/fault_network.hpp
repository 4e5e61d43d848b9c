#pragma once
// The real network faults (root only): three network namespaces, client - router - server,
// joined by veth pairs, where the router impairs what it forwards. The links start at MTU 1500
// and both ends advertise a full MSS; the router's locally generated ICMP goes to a blackhole
// route (a policy rule, no netfilter needed), so "fragmentation needed" never leaves it.
//  - MTU black hole: one link of the path drops to a smaller MTU; segments over it vanish, small
//    exchanges pass. Restoring the MTU is "fixing the MTU": the next retransmission passes.
//  - packet loss: iptables `statistic --mode random` drops in the router's FORWARD chain.
//  - rate limit: a `tbf` qdisc on the router's egress link.
// Directions follow the fault proxy's: upstream = client -> server, downstream = back.
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/faults/toxics.hpp"

namespace gatedrill {

class FaultNetwork {
 public:
  // Errors: "netns_unavailable" (not root, no `ip`), "netns_setup" with the failing command.
  // Namespaces left behind by an earlier process that died (their creator's pid is gone) are
  // removed first.
  static Result<std::unique_ptr<FaultNetwork>> create();
  ~FaultNetwork();  // deletes the namespaces, and with them links, rules and qdiscs
  FaultNetwork(const FaultNetwork&) = delete;
  FaultNetwork& operator=(const FaultNetwork&) = delete;

  // Why a real fault cannot run here ("" = it can): network namespaces, and for loss the
  // `iptables` command, for rate limits `tc`.
  static std::string unavailable_reason();
  static std::string loss_unavailable_reason();
  static std::string rate_unavailable_reason();

  // MTU black hole on `stream`'s path (576..1499); 0 restores 1500. Errors: "netns_setup".
  Result<void> set_mtu(Stream stream, int mtu);
  // Drops forwarded packets of `stream` with this probability (0 < p < 1); 0 removes it.
  Result<void> set_loss(Stream stream, double probability);
  // Caps `stream` at bytes_per_second (>= 1000); 0 removes the cap.
  Result<void> set_rate(Stream stream, int64_t bytes_per_second);

  const std::string& client_ns() const { return client_; }
  const std::string& router_ns() const { return router_; }
  const std::string& server_ns() const { return server_; }
  // Where a server in server_ns() is reached from client_ns(), and the other way round.
  static const char* server_address() { return "10.231.2.2"; }
  static const char* client_address() { return "10.231.1.1"; }
  // "/run/netns/NS", for setns(2).
  static std::string ns_path(const std::string& ns) { return "/run/netns/" + ns; }

 private:
  FaultNetwork() = default;
  struct Impairment {
    int mtu = 0;
    std::string loss;  // the probability as passed to iptables; "" = none
    int64_t rate = 0;
  };
  Impairment& of(Stream s) { return s == Stream::kUpstream ? upstream_ : downstream_; }
  std::string client_, router_, server_;
  Impairment upstream_, downstream_;
  bool created_ = false;
};

// A socket (socket(2) domain and type) that belongs to the named network namespace ("" = the
// caller's), made by a short-lived thread that enters it, so the caller's namespace never
// changes. The socket stays in that namespace wherever it is used. Errors: "netns" with errno.
Result<int> socket_in_netns(const std::string& ns, int domain, int type);

// Runs a short command to completion (no shell) and returns its exit status. Errors:
// "spawn_failed".
Result<int> run_command(const std::vector<std::string>& argv);

}  // namespace gatedrill
