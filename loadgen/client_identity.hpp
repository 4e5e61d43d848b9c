#pragma once
// The client certificate a load generator presents follows its files: an agent that rotates the
// workload's SVID rewrites them (atomically, key then certificate), and every later handshake
// presents the new one, as a sidecar reading a rotated SVID does. The connections already open
// keep the certificate they were made with.
#include <openssl/ssl.h>

#include <string>

#include "core/util/result.hpp"

namespace gatedrill {

// Installs, on ctx, a certificate callback that re-reads cert_file (a PEM chain, leaf first)
// and key_file when either changed since the last handshake and presents them; a pair that does
// not match yet (the agent between its two writes) keeps the previous one. The files must load
// now. The state lives as long as ctx. Errors: "bad_options".
Result<void> follow_client_identity(SSL_CTX* ctx, const std::string& cert_file,
                                    const std::string& key_file);

}  // namespace gatedrill
