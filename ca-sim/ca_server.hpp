#pragma once
// The CA peer of a run on its admin port (the AdminServer: /healthz, /metrics, /admin/faults,
// /admin/clock) plus:
//   GET  /bundle?node=gw-1        trust bundle PEM as that node currently gets it
//   GET  /crl?node=gw-1           CRLs PEM as that node currently gets them
//   GET  /svid?spiffe_id=...[&ip=127.0.0.1]  {"cert","key","chain","serial","not_after_s"}, rotated
//   at half-life POST /admin/issue             {"spiffe_id","ttl_s"} or
//   {"dns":[...],"ips":[...],"ttl_s"} POST /admin/revoke            {"serial": "hex"}
// Faults: roll_intermediate, stop_rotation, expired_crl, bundle_desync {"nodes":[...],
// "mode":"withhold"|"delay","delay_ms":N}. With an output folder, bundle.pem and crl.pem are
// rewritten there on every change.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "ca-sim/pki.hpp"
#include "ca-sim/rotation.hpp"
#include "ca-sim/trust_distribution.hpp"
#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "core/http/http_message.hpp"
#include "core/time/time_source.hpp"

namespace gatedrill {

struct CaServerOptions {
  PkiOptions pki;
  uint16_t admin_port = 0;
  std::string out_dir;  // "" : no files
  std::chrono::seconds svid_ttl{3600};
};

class CaServer {
 public:
  CaServer(TimeSource& time, CaServerOptions options);
  ~CaServer();

  // Creates the PKI, publishes the first bundle, starts the admin server. Errors: the PKI's,
  // "write_failed", the server's.
  Result<void> start();
  void stop();
  uint16_t port() const;

  Pki& pki() { return *pki_; }
  TrustDistribution& distribution() { return distribution_; }
  // Handlers (public for tests).
  HttpResponse get_bundle(const HttpRequest& request);
  HttpResponse get_crl(const HttpRequest& request);
  HttpResponse get_svid(const HttpRequest& request);
  HttpResponse post_issue(const HttpRequest& request);
  HttpResponse post_revoke(const HttpRequest& request);

 private:
  Result<void> publish();
  void register_faults();

  TimeSource& time_;
  CaServerOptions options_;
  std::unique_ptr<Pki> pki_;
  std::unique_ptr<SvidRotation> rotation_;
  TrustDistribution distribution_;
  MetricsRegistry metrics_;
  FaultRegistry faults_;
  std::unique_ptr<AdminServer> admin_;
};

// A query parameter, percent-decoded; "" when absent.
std::string query_value(std::string_view query, std::string_view name);

}  // namespace gatedrill
