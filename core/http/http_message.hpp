#pragma once
// Plain request/response values shared by our small HTTP servers and clients. No Beast or Asio
// here: this header is included widely, and those templates are expensive to compile.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatedrill {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; empty string_view when absent.
std::string_view find_header(const HeaderList& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/admin/faults/f1?x=1" as sent
  std::string path;    // "/admin/faults/f1" (percent-decoding is the handler's business)
  std::string query;   // "x=1"
  HeaderList headers;
  std::string body;
  std::string remote;  // "127.0.0.1:53412"
  // The client's verified certificate (PEM) on a TLS server with a client CA; "" without one.
  std::string peer_certificate_pem;

  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;
  std::string body;
  // Served after this long without holding a thread (upstream latency faults, slow peers).
  std::chrono::microseconds delay{0};
  // Close the connection after this response.
  bool close = false;

  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// {"error": {"code": code, "message": message}} with the given status.
HttpResponse json_error(int status, std::string_view code, std::string_view message);
// The body with status 200 and application/json.
HttpResponse json_ok(std::string body);

}  // namespace gatedrill
