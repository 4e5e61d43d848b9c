#pragma once
// Verifies a certificate the way a node of the run does: against the trust bundle it was given
// (root + intermediates) and the CRLs it was given, at the node's own wall-clock time. Peers
// present their leaf only, so a node without the issuing intermediate cannot build the chain.
#include <cstdint>
#include <string_view>

#include "core/util/result.hpp"

namespace gatedrill {

// crl_pem empty: no revocation check. Errors: "bad_pem", "untrusted" (no chain to the
// bundle), "revoked", "expired", "not_yet_valid", "crl_expired", "crl_missing", each with
// OpenSSL's reason.
Result<void> verify_certificate(std::string_view leaf_pem, std::string_view bundle_pem,
                                std::string_view crl_pem, int64_t now_s);

}  // namespace gatedrill
