#pragma once
// Which headers cross the gateway: hop-by-hop headers (RFC 9110 7.6.1) never do, internal
// x-gatedrill-* / x-envoy-* headers from clients never do, and upstream responses lose the
// headers that fingerprint the backend (seeds 000, 002).
#include <string_view>

namespace gatedrill::gateway {

// connection, keep-alive, proxy-connection, te, trailer, transfer-encoding, upgrade, and
// anything the message's own Connection header names (`connection_value`).
bool is_hop_by_hop(std::string_view name, std::string_view connection_value = {});
// x-gatedrill-* and x-envoy-*: only the gateway sets these.
bool is_internal_header(std::string_view name);
// Server, X-Powered-By.
bool is_fingerprint_header(std::string_view name);

}  // namespace gatedrill::gateway
