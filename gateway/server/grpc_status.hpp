#pragma once
// gRPC answers for errors the gateway makes itself: like Envoy, a refused gRPC call is HTTP 200
// with `grpc-status` and `grpc-message` (a trailers-only response), because gRPC clients read
// the outcome from grpc-status, not from the HTTP status.
#include <string>
#include <string_view>

namespace gatedrill::gateway {

// application/grpc, application/grpc+proto, application/grpc-web...: a gRPC request.
bool is_grpc_content_type(std::string_view content_type);

// 401 -> 16 UNAUTHENTICATED, 403 -> 7 PERMISSION_DENIED, 408 -> 4 DEADLINE_EXCEEDED (the
// stream idle timeout), 429 -> 8 RESOURCE_EXHAUSTED, 502/503/504 -> 14 UNAVAILABLE, 404 -> 12
// UNIMPLEMENTED, 400/431/500 -> 13 INTERNAL, 413 -> 8 RESOURCE_EXHAUSTED, anything else 2 UNKNOWN.
int grpc_status_for_http(int http_status);

// grpc-message is percent-encoded (gRPC over HTTP/2: bytes outside 0x20..0x7E and '%').
std::string grpc_percent_encode(std::string_view message);

}  // namespace gatedrill::gateway
