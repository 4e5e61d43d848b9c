#pragma once
// The workload identity of an mTLS peer: the SPIFFE ID carried as the certificate's single URI
// SAN (SPIFFE X.509-SVID). Zero or several URI SANs, or one that is not spiffe://<trust
// domain>/..., is no identity at all.
#include <string>
#include <string_view>

#include "core/util/result.hpp"

typedef struct x509_st X509;

namespace gatedrill::gateway {

// `trust_domain` empty: any trust domain. Errors: "no_spiffe_id", "several_uri_sans",
// "bad_spiffe_id", "wrong_trust_domain".
Result<std::string> spiffe_id_of(X509* cert, std::string_view trust_domain);

// The text form alone (for tests and the PEM-free paths): "spiffe://td/path".
Result<void> check_spiffe_id(std::string_view uri, std::string_view trust_domain);

}  // namespace gatedrill::gateway
