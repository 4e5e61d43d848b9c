#pragma once
// The run's node agent for the CA and the registry, one thread in the runner: for each gateway
// node it pulls that node's trust bundle and CRL from the CA's per-node distribution
// (GET /bundle?node=, /crl?node=) and its serving SVID (GET /svid, rotated by the CA at
// half-life), writes them to the node's own files and asks the node to reload
// (POST /admin/tls/reload) when they changed; it also keeps the upstream's registration alive
// in the registry's discovery (heartbeats).
//
// Why the runner pulls instead of the CA pushing: the CA's desync faults (withhold, delay)
// already live in its per-node views, so a dumb puller reproduces a lagging node faithfully,
// the CA needs to know nothing about gateway admin ports, and one place sees every node's
// version (like a SPIRE agent or trust-manager on each node, collapsed into one loop).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct TrustAgentNode {
  std::string name;       // "gw-1"
  std::string dir;        // where bundle.pem, crl.pem, svid.pem, svid.key live
  std::string spiffe_id;  // of the node's serving SVID
  std::string admin;      // filled once the node runs; "" = do not ask it to reload yet
};

struct TrustAgentOptions {
  std::string ca_admin;  // "" = no CA
  std::vector<TrustAgentNode> nodes;
  std::string registry_url;           // "" = no registry
  std::vector<std::string> services;  // registered in the registry's discovery ...
  std::string service_address;        // ... at this address
  std::map<std::string, std::string> service_addresses;  // unless named here (clusters)
  std::chrono::milliseconds heartbeat_ttl{2000};
  std::chrono::milliseconds interval{200};  // how often the CA is asked
  // The load's client SVID (issued through POST /admin/issue, for its whole lifetime).
  std::string client_spiffe_id, client_cert_file, client_key_file;
  std::chrono::seconds client_ttl{86400};
};

class TrustAgent {
 public:
  TrustAgent(TimeSource& time, TrustAgentOptions options);
  ~TrustAgent();

  // One pass now: every file written, every registration sent. Errors name the node and the
  // CA's or registry's answer (used at start, before the gateways exist).
  Result<void> sync_once();
  void set_admin(const std::string& node, const std::string& admin);
  // A new client SVID from the CA's current intermediate, written over the client files
  // (load generators present it from their next handshake). renewal: the periodic renewal at
  // half-life, which the CA refuses while rotation is stopped. Errors: the CA's answer,
  // "write_failed".
  Result<void> issue_client(bool renewal = false);
  std::string client_serial() const;
  void start();
  void stop();

  // deregister fault: heartbeats for the service stop (the registration expires) or resume.
  void set_heartbeat(const std::string& service, bool on);
  // Reloads each node has done (for reports and tests).
  std::map<std::string, int64_t> reloads() const;

 private:
  struct NodeState {
    std::string bundle, crl, serial;
    bool dirty = false;  // files changed; the node has not reloaded them yet
    int64_t reloads = 0;
  };
  Result<void> sync_node(TrustAgentNode& node, NodeState& state);
  Result<void> heartbeat();
  void run();

  TimeSource& time_;
  TrustAgentOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, NodeState> states_;
  std::set<std::string> silent_;  // services whose heartbeats are stopped
  std::string client_serial_;
  int64_t client_renew_ms_ = 0;  // monotonic: when the client SVID is renewed (half its life)
  int64_t next_heartbeat_ms_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// Writes path atomically (a temporary file renamed over it), so a reloading node never reads
// half a file. Errors: "write_failed".
Result<void> write_file_atomically(const std::string& path, const std::string& content,
                                   unsigned mode = 0644);

}  // namespace gatedrill
