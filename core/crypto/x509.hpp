#pragma once
// X.509 helpers: a CA that issues server certificates and SPIFFE SVIDs for tests, the quickstart
// and ca-sim. Times come from the caller (a TimeSource), so expiry drills work.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/crypto/keys.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct CertRequest {
  std::string common_name;
  std::vector<std::string> dns_names;   // subjectAltName DNS
  std::vector<std::string> ip_addresses;  // subjectAltName IP ("127.0.0.1")
  std::vector<std::string> uris;        // subjectAltName URI ("spiffe://td/ns/x/sa/y")
  bool is_ca = false;
  int path_len = -1;                    // CA only; -1: unlimited
  bool server_auth = true;              // EKU serverAuth
  bool client_auth = false;             // EKU clientAuth
  int64_t not_before_s = 0;             // unix seconds (wall clock of the caller)
  int64_t not_after_s = 0;
  int64_t serial = 0;                   // 0: random
};

struct Certificate {
  std::string pem;
  Key key;  // its private key
};

// Self-signed when issuer_pem is empty (issuer_key is then the subject's own key).
Result<Certificate> issue_certificate(const CertRequest& request, const Key& subject_key,
                                      std::string_view issuer_cert_pem, const Key& issuer_key);

struct CertInfo {
  std::string subject;
  std::string issuer;
  std::vector<std::string> uris;
  int64_t not_before_s = 0;
  int64_t not_after_s = 0;
  std::string serial_hex;
};
Result<CertInfo> inspect_certificate(std::string_view pem);

}  // namespace gatedrill
