#pragma once
// The private PKI of a run: a root and an intermediate CA in memory (P-256 by default, RSA on
// request) issuing server certificates and SPIFFE X.509 SVIDs, with revocation and a CRL per
// intermediate. roll_intermediate() retires the issuing intermediate for a new one, so nodes
// whose trust bundle is stale stop trusting new SVIDs. Times come from a TimeSource.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/crypto/keys.hpp"
#include "core/crypto/x509.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct PkiOptions {
  std::string trust_domain = "gatedrill.test";
  KeyType key_type = KeyType::kEcP256;  // or KeyType::kRsa (2048)
  std::chrono::seconds root_ttl{10LL * 365 * 24 * 3600};
  std::chrono::seconds intermediate_ttl{365LL * 24 * 3600};
  std::chrono::seconds crl_ttl{3600};  // nextUpdate = thisUpdate + crl_ttl
  // "" : in memory only. Else the CA certificates and keys live here (root.pem/.key,
  // intermediate-N.pem/.key): loaded when present, written when created or rolled, so
  // several `gatedrill ca issue` calls share one CA. Revocations are not kept.
  std::string state_dir;
};

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;    // PKCS#8
  std::string chain_pem;  // cert + issuing intermediate
  std::string serial_hex;
  std::string spiffe_id;  // SVIDs only
  int64_t not_before_s = 0;
  int64_t not_after_s = 0;
};

// "spiffe://td/path": the trust domain must match and a path is required. Errors:
// "bad_spiffe_id" naming the problem.
Result<void> check_spiffe_id(const std::string& id, const std::string& trust_domain);

class Pki {
 public:
  // Errors: "bad_options", the crypto module's errors.
  static Result<std::unique_ptr<Pki>> create(const TimeSource& time, PkiOptions options);

  // An SVID: one URI SAN (the SPIFFE ID), client and server auth, valid from now for ttl.
  // ip_addresses: IP SANs beside it, for a workload that also serves clients checking the
  // address (SPIRE's dns_names, for loopback). Errors: "bad_spiffe_id", "bad_ttl".
  Result<IssuedCert> issue_svid(const std::string& spiffe_id, std::chrono::seconds ttl,
                                const std::vector<std::string>& ip_addresses = {});
  // A TLS server certificate for names and addresses. Errors: "bad_request", "bad_ttl".
  Result<IssuedCert> issue_server(const std::vector<std::string>& dns_names,
                                  const std::vector<std::string>& ip_addresses,
                                  std::chrono::seconds ttl);

  // Errors: "unknown_serial" (not issued here).
  Result<void> revoke(const std::string& serial_hex);
  bool revoked(const std::string& serial_hex) const;

  // A new issuing intermediate; the old one stays in the bundle until it expires, so what it
  // issued still verifies for nodes that have the new bundle.
  Result<void> roll_intermediate();
  // The expired_crl fault: CRLs are issued with a nextUpdate already in the past.
  void set_expired_crl(bool expired);

  // Root + every intermediate (PEM, concatenated).
  std::string bundle_pem() const;
  std::string root_pem() const;
  // One CRL per intermediate, signed by it, listing its revoked serials (PEM, concatenated).
  Result<std::string> crl_pem() const;
  int generation() const;  // bumps on roll_intermediate

  const std::string& trust_domain() const { return options_.trust_domain; }

 private:
  struct Authority {
    Certificate cert;
    std::string serial_hex;
    std::set<std::string> revoked;
  };
  Pki(const TimeSource& time, PkiOptions options) : time_(time), options_(std::move(options)) {}
  Result<Authority> make_intermediate(int number);
  Result<void> save(const std::string& name, const Certificate& cert) const;
  // nullopt-like: ok(false) when the files are absent.
  Result<bool> load(const std::string& name, Certificate& cert) const;
  Result<IssuedCert> issue(CertRequest request, std::chrono::seconds ttl);

  const TimeSource& time_;
  PkiOptions options_;
  mutable std::mutex mutex_;
  Authority root_;
  std::vector<Authority> intermediates_;  // last one issues
  std::map<std::string, size_t> issued_;  // serial -> intermediate index
  bool expired_crl_ = false;
};

}  // namespace gatedrill
