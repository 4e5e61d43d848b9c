#pragma once
// The WebSocket opening handshake's key and accept values (RFC 6455 section 4). The gateway is
// the WebSocket client towards the upstream when an HTTP/2 client opened the tunnel (RFC 8441
// section 5: h2 carries neither field), so it makes the key and checks the upstream's answer.
#include <string>
#include <string_view>

namespace gatedrill::gateway {

// Sec-WebSocket-Key: 16 random bytes, base64.
std::string make_websocket_key();

// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC 6455 GUID)).
std::string websocket_accept(std::string_view key);

}  // namespace gatedrill::gateway
