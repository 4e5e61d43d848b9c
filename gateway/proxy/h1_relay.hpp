#pragma once
// An HTTP/1.1 upstream's response as the gateway relays it: the head's bytes as received with
// its fields as offsets (core/http/h1_response_parser), the body decoded, and the client's
// response written straight from them: the head's field lines copied minus the ones that must
// not cross (hop-by-hop, those the upstream's Connection names, Server, X-Powered-By) and the
// ones the gateway sets (x-request-id, Content-Length, Connection). No Beast fields object, no
// per-field allocation.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/h1_response_parser.hpp"

namespace gatedrill::gateway {

struct UpstreamResponse {
  int status = 0;
  bool keep_alive = false;                      // the upstream connection may carry another request
  std::string head;                             // status line to the empty line, as received
  std::vector<H1ResponseParser::Field> fields;  // offsets into `head`
  std::string body;                             // chunks decoded

  std::string_view name(const H1ResponseParser::Field& f) const {
    return std::string_view(head).substr(f.name_offset, f.name_size);
  }
  std::string_view value(const H1ResponseParser::Field& f) const {
    return std::string_view(head).substr(f.value_offset, f.value_size);
  }
};

// The client's response into `wire` (cleared first): "HTTP/1.x <status> <standard reason>",
// the upstream's fields that cross in their order, then x-request-id, Connection (close on
// HTTP/1.1 without keep-alive, keep-alive on HTTP/1.0 with it) and Content-Length (the body's;
// for a HEAD request the upstream's own, if it sent one; none on 1xx/204/304), then the body.
// `version`: 10 or 11.
void write_client_response(const UpstreamResponse& response, unsigned version, bool keep_alive,
                           std::string_view request_id, bool head_request, std::string& wire);

// Whether an upstream response field stays out of the client's response (the gateway's own
// x-request-id and Content-Length included); `connection_tokens`: what the response's
// Connection fields name, as collect_connection_tokens() found them.
bool dropped_response_field(std::string_view name,
                            const std::vector<std::string_view>& connection_tokens);
// The tokens of every Connection field of `response` but close and keep-alive, appended.
void collect_connection_tokens(const UpstreamResponse& response,
                               std::vector<std::string_view>& tokens);

}  // namespace gatedrill::gateway
