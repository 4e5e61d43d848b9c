#include "gateway/proxy/h1_relay.hpp"

#include <boost/beast/http/status.hpp>

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

void collect_connection_tokens(const UpstreamResponse& response,
                               std::vector<std::string_view>& tokens) {
  for (const auto& f : response.fields) {
    if (f.name_size != 10 || !equals_lower(response.name(f), "connection")) continue;
    std::string_view rest = response.value(f);
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view token = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      // close and keep-alive name no field (one named so is hop-by-hop anyway): nginx's usual
      // "Connection: keep-alive" costs no allocation.
      if (!token.empty() && !equals_lower(token, "close") && !equals_lower(token, "keep-alive"))
        tokens.push_back(token);
    }
  }
}

bool dropped_response_field(std::string_view name,
                            const std::vector<std::string_view>& connection_tokens) {
  // Told apart by length first: one or two compares per field.
  bool dropped = false;
  switch (name.size()) {
    case 2:
      dropped = equals_lower(name, "te");
      break;
    case 6:
      dropped = equals_lower(name, "server");
      break;
    case 7:
      dropped = equals_lower(name, "trailer") || equals_lower(name, "upgrade");
      break;
    case 10:
      dropped = equals_lower(name, "connection") || equals_lower(name, "keep-alive");
      break;
    case 12:
      dropped = equals_lower(name, "x-powered-by") || equals_lower(name, "x-request-id");
      break;
    case 14:
      dropped = equals_lower(name, "content-length");
      break;
    case 16:
      dropped = equals_lower(name, "proxy-connection");
      break;
    case 17:
      dropped = equals_lower(name, "transfer-encoding");
      break;
    case 18:
      dropped = equals_lower(name, "proxy-authenticate");
      break;
    default:
      break;
  }
  if (dropped) return true;
  for (auto token : connection_tokens)
    if (iequals(token, name)) return true;
  return false;
}

namespace {

void append_decimal(std::string& wire, uint64_t n) {
  char digits[20];
  size_t i = sizeof digits;
  do {
    digits[--i] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  wire.append(digits + i, sizeof digits - i);
}

}  // namespace

void write_client_response(const UpstreamResponse& response, unsigned version, bool keep_alive,
                           std::string_view request_id, bool head_request, std::string& wire) {
  wire.clear();
  const int status = response.status;
  const char status_line[] = {'H',
                              'T',
                              'T',
                              'P',
                              '/',
                              static_cast<char>('0' + version / 10),
                              '.',
                              static_cast<char>('0' + version % 10),
                              ' ',
                              static_cast<char>('0' + status / 100 % 10),
                              static_cast<char>('0' + status / 10 % 10),
                              static_cast<char>('0' + status % 10),
                              ' '};
  wire.append(status_line, sizeof status_line);
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  wire.append(reason.data(), reason.size());
  wire.append("\r\n");

  std::vector<std::string_view> connection_tokens;
  collect_connection_tokens(response, connection_tokens);
  std::string_view upstream_length;
  bool had_length = false;
  // Runs of kept lines are copied whole (one append per run, usually one per response).
  const std::string_view head = response.head;
  size_t run_begin = 0, run_end = 0;
  for (const auto& f : response.fields) {
    const std::string_view name = response.name(f);
    if (dropped_response_field(name, connection_tokens)) {
      if (!had_length && f.name_size == 14 && equals_lower(name, "content-length")) {
        had_length = true;
        upstream_length = response.value(f);
      }
      continue;
    }
    if (f.name_offset != run_end) {
      wire.append(head.substr(run_begin, run_end - run_begin));
      run_begin = f.name_offset;
    }
    run_end = f.name_offset + f.line_size;
  }
  wire.append(head.substr(run_begin, run_end - run_begin));

  wire.append("x-request-id: ");
  wire.append(request_id);
  wire.append("\r\n");
  if (version >= 11 && !keep_alive)
    wire.append("Connection: close\r\n");
  else if (version < 11 && keep_alive)
    wire.append("Connection: keep-alive\r\n");
  if (head_request) {
    if (had_length) {
      wire.append("Content-Length: ");
      wire.append(upstream_length);
      wire.append("\r\n");
    }
  } else if (status >= 200 && status != 204 && status != 304) {
    wire.append("Content-Length: ");
    append_decimal(wire, response.body.size());
    wire.append("\r\n");
  }
  wire.append("\r\n");
  wire.append(response.body);
}

}  // namespace gatedrill::gateway
