#pragma once
// A TCP proxy with toxics (Toxiproxy's model): each named proxy listens on one address and
// forwards every connection to one upstream; toxics on either direction delay, throttle,
// slice, cut, reset or black-hole the bytes. Toxics can be added and removed while
// connections are open. Asio lives in the .cpp only.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/faults/toxics.hpp"

namespace gatedrill {

struct ProxyConfig {
  std::string name;
  std::string listen;    // "127.0.0.1:0" (0: a free port; read it back from ProxyInfo)
  std::string upstream;  // "127.0.0.1:6379"
  bool enabled = true;   // false: not listening
  // Network namespaces (names under /run/netns; "" = the proxy's own) the listener and the
  // upstream connections live in: the relay into and out of a FaultNetwork.
  std::string listen_netns;
  std::string upstream_netns;
};

struct ProxyInfo {
  ProxyConfig config;  // listen carries the bound port
  uint16_t port = 0;
  std::vector<Toxic> toxics;
  uint64_t connections = 0;  // accepted so far
};

class FaultProxy {
 public:
  FaultProxy();
  ~FaultProxy();  // closes every proxy and connection
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Errors: "bad_proxy" (name, listen or upstream malformed), "duplicate_proxy",
  // "bind_failed".
  Result<ProxyInfo> add_proxy(const ProxyConfig& config);
  // Closes its listener and connections. Errors: "no_such_proxy".
  Result<void> remove_proxy(const std::string& name);
  Result<ProxyInfo> proxy(const std::string& name) const;
  std::vector<ProxyInfo> proxies() const;

  // Takes effect on open connections at their next chunk (held chunks are re-planned).
  // Errors: "no_such_proxy", "duplicate_toxic".
  Result<Toxic> add_toxic(const std::string& proxy, Toxic toxic);
  // Errors: "no_such_proxy", "no_such_toxic".
  Result<void> remove_toxic(const std::string& proxy, const std::string& toxic);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "host:port" with a numeric port. Errors: "bad_address".
Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& text);

}  // namespace gatedrill
