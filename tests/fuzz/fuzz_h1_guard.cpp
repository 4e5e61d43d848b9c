// The gateway's strict HTTP/1.1 head guard on arbitrary bytes: never crash, and a head it calls
// complete really ends with the blank line within the input. A complete head the guard lets
// through and read_plain_request_head reads must read the same in Beast's parser (method,
// target, version, fields), which the gateway used for every head before.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/server/h1_guard.hpp"
#include "gateway/server/h1_request_head.hpp"

namespace {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

std::string describe(const Request& request) {
  std::string out = std::string(request.method_string()) + ' ' + std::string(request.target()) +
                    ' ' + std::to_string(request.version()) + '\n';
  for (const auto& f : request)
    out += std::string(f.name_string()) + '=' + std::string(f.value()) + '\n';
  return out;
}

void compare_with_beast(std::string_view head) {
  Request plain;
  if (!gatedrill::gateway::read_plain_request_head(head, plain)) {
    if (plain.begin() != plain.end()) std::abort();  // a refusal leaves no fields behind
    return;
  }
  http::request_parser<http::string_body> parser;
  boost::system::error_code ec;
  const size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !parser.is_done() || used != head.size()) std::abort();
  if (describe(parser.get()) != describe(plain)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto scan = gatedrill::gateway::scan_request_head(bytes, 256, 1024);
  if (scan.state == gatedrill::gateway::HeadScan::State::kComplete) {
    if (scan.head_size > size || scan.head_size < 4 ||
        bytes.substr(scan.head_size - 4, 4) != "\r\n\r\n")
      std::abort();
    const std::string_view head = bytes.substr(0, scan.head_size);
    if (!gatedrill::gateway::check_request_head(head)) compare_with_beast(head);
  }
  (void)gatedrill::gateway::check_request_head(bytes);
  // Also without the guard in front: whatever the reader takes, Beast takes the same way.
  compare_with_beast(bytes);
  return 0;
}
