#include "gateway/server/grpc_status.hpp"

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

bool is_grpc_content_type(std::string_view content_type) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (content_type.size() < kGrpc.size() || !iequals(content_type.substr(0, kGrpc.size()), kGrpc))
    return false;
  if (content_type.size() == kGrpc.size()) return true;
  const char next = content_type[kGrpc.size()];
  return next == '+' || next == '-' || next == ';';
}

int grpc_status_for_http(int http_status) {
  switch (http_status) {
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 408:
      return 4;  // DEADLINE_EXCEEDED (the stream idle timeout)
    case 413:
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 502:
    case 503:
    case 504:
      return 14;  // UNAVAILABLE
    case 400:
    case 431:
    case 500:
      return 13;  // INTERNAL
    default:
      return 2;  // UNKNOWN
  }
}

std::string grpc_percent_encode(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace gatedrill::gateway
