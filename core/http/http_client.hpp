#pragma once
// A blocking HTTP/1.1 client for control-plane calls: health checks, admin APIs, JWKS fetches
// from a background thread. Not for the data plane (the loadgen and gateway have their own).
#include <chrono>
#include <string>
#include <string_view>

#include "core/http/http_message.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct Url {
  std::string scheme;  // "http" | "https"
  std::string host;
  uint16_t port = 0;
  std::string target;  // path + query, "/" when empty

  // Errors: "bad_url" with what is wrong ("missing scheme", "port out of range", ...).
  static Result<Url> parse(std::string_view text);
  std::string authority() const;  // "host:port"
  std::string str() const;
};

struct HttpClientOptions {
  std::chrono::milliseconds timeout{5000};  // whole exchange: connect + write + read
  std::string ca_file;                      // https: verify against this bundle ...
  bool verify_peer = true;                  // ... unless false (tests against self-signed)
  std::string client_cert_file;             // mTLS
  std::string client_key_file;
};

// Errors: "connect_failed", "timeout", "tls_failed", "protocol_error", "bad_url".
Result<HttpResponse> http_request(std::string_view method, std::string_view url,
                                  const HeaderList& headers = {}, std::string_view body = {},
                                  const HttpClientOptions& options = {});

inline Result<HttpResponse> http_get(std::string_view url, const HttpClientOptions& options = {}) {
  return http_request("GET", url, {}, {}, options);
}
inline Result<HttpResponse> http_post_json(std::string_view url, std::string_view json,
                                           const HttpClientOptions& options = {}) {
  return http_request("POST", url, {{"content-type", "application/json"}}, json, options);
}

}  // namespace gatedrill
