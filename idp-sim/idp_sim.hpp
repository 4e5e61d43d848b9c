#pragma once
// The simulated OIDC identity provider: discovery, JWKS and a client_credentials token endpoint
// on the public port; token minting, key rotation and faults on the admin port. Wall time comes
// from the TimeSource, so an /admin/clock skew mints tokens with future iat/nbf (clock-skew-idp).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "core/crypto/jwt.hpp"
#include "core/http/http_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"
#include "idp-sim/key_ring.hpp"

namespace gatedrill {

struct IdpOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  uint16_t admin_port = 0;
  std::string issuer;  // empty: http://<bind>:<port>
  std::string audience = "gatedrill";
  JwsAlg alg = JwsAlg::kRS256;
  std::string client_id = "gatedrill-loadgen";
  std::string client_secret;  // required
  std::string scope = "gatedrill";
  std::chrono::seconds token_ttl{300};
  std::string keys_dir;  // keep the first signing key here across restarts (empty: memory only)
  int threads = 2;
  // Where POST /admin/revoke puts revoked JTIs (the gateway's blacklist): redis://host:port.
  std::string redis_url;
  // HTTPS on the public port when set (PEM chain and key).
  std::string tls_cert_file, tls_key_file;
  // With TLS and a client CA: a second client, mtls_client_id, that authenticates with a
  // certificate (RFC 8705 tls_client_auth) whose URI SAN is mtls_client_uri, e.g. its SPIFFE ID.
  std::string client_ca_file;
  std::string mtls_client_id;
  std::string mtls_client_uri;
  // More issuers in the same process: tenant NAME is the issuer {issuer}/NAME with its own keys
  // (memory only), discovery at {issuer}/NAME/.well-known/openid-configuration, JWKS and token
  // endpoint under /NAME/, and admin calls that name it ("tenant" in the body, ?tenant= on GET).
  std::vector<std::string> tenants;
};

// A tenant name: 1..64 of [A-Za-z0-9_-] (one path segment, no dots). Errors: "bad_options".
Result<void> check_tenant_name(std::string_view name);

class IdpSim {
 public:
  static constexpr int kMaxAdminTokens = 100000;

  IdpSim(TimeSource& time, IdpOptions options);
  ~IdpSim();
  IdpSim(const IdpSim&) = delete;
  IdpSim& operator=(const IdpSim&) = delete;

  // Loads or creates the signing key, then binds both ports. Errors: "bad_key", "bind_failed".
  Result<void> start();
  void stop();
  uint16_t port() const;
  uint16_t admin_port() const;
  std::string issuer() const;
  std::string issuer(std::string_view tenant) const;  // "" is the default issuer
  std::string base_url() const;  // where the public endpoints are: http(s)://<bind>:<port>

  // The handlers behind the routes, public for tests. handle_public applies the public faults.
  HttpResponse handle_public(const HttpRequest& request);
  HttpResponse handle_admin_tokens(const HttpRequest& request);
  HttpResponse handle_admin_rotate(const HttpRequest& request);
  HttpResponse handle_admin_publish(const HttpRequest& request);
  HttpResponse handle_admin_keys(const HttpRequest& request);
  // {"jti": "...", "ttl_s": N}: SET gatedrill:revoked:jti:<jti> 1 EX ttl_s (default: the token
  // lifetime plus a minute, so the entry outlives any token carrying that jti).
  HttpResponse handle_admin_revoke(const HttpRequest& request);

  KeyRing& key_ring() { return *keys_; }
  FaultRegistry& faults() { return faults_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  // The default issuer ("") or a tenant's key ring; null for an unknown tenant.
  KeyRing* ring(std::string_view tenant);
  // The ring an admin call names with "tenant" (absent: the default issuer's).
  // Errors: "bad_params" (not a string), "unknown_tenant".
  Result<KeyRing*> admin_ring(const boost::json::object& params);
  std::string base_url(std::string_view tenant) const;
  HttpResponse discovery(std::string_view tenant) const;
  HttpResponse jwks(KeyRing& keys);
  HttpResponse token(const HttpRequest& request, std::string_view tenant, KeyRing& keys);
  // RFC 8705 tls_client_auth: the request's client certificate carries mtls_client_uri.
  Result<void> check_tls_client(const HttpRequest& request) const;
  HttpResponse token_error(int status, const std::string& error, const std::string& description,
                           bool basic_challenge = false);
  boost::json::object default_claims(int64_t ttl_s, const std::string& sub,
                                     std::string_view tenant) const;
  Result<void> load_or_create_keys();
  Result<void> open_public();
  void close_public();
  void register_faults();
  bool draw(double probability);

  TimeSource& time_;
  IdpOptions options_;
  MetricsRegistry metrics_;
  FaultRegistry faults_;
  std::optional<KeyRing> keys_;
  std::map<std::string, KeyRing, std::less<>> tenant_keys_;  // filled at start, then fixed

  Counter* tokens_endpoint_ = nullptr;
  Counter* tokens_admin_ = nullptr;
  Counter* jwks_fetches_ = nullptr;
  Counter* discovery_fetches_ = nullptr;
  std::map<std::string, Counter*> token_errors_;  // by RFC 6749 error code; filled at set-up

  // Fault state, read per request (relaxed: a fault taking effect one request late is fine).
  std::atomic<bool> down_{false};
  std::atomic<bool> jwks_down_{false};
  std::atomic<int> jwks_malformed_{0};  // 0 off, 1 garbage, 2 empty key set, 3 truncated
  std::atomic<int64_t> slow_us_{0};
  std::atomic<int> error_status_{500};
  std::atomic<double> error_probability_{0};
  std::atomic<uint64_t> error_draw_{0};

  std::atomic<bool> stopping_{false};
  mutable std::mutex server_mutex_;  // the public server is closed and reopened by idp_down close
  std::unique_ptr<HttpServer> server_;
  uint16_t bound_port_ = 0;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace gatedrill
