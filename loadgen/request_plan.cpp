#include "loadgen/request_plan.hpp"

#include <charconv>

#include "core/util/strings.hpp"

namespace gatedrill::loadgen {
namespace {

bool is_token_char(char c) {
  // RFC 9110 tchar
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

bool has_line_break(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos ||
         s.find('\0') != std::string_view::npos;
}

}  // namespace

std::string Target::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

Result<Target> parse_url(std::string_view url) {
  Target t;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    t.tls = true;
    rest = url.substr(8);
  } else {
    return make_error("bad_url", "'" + std::string(url) + "' must start with http:// or https://");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (authority.find('@') != std::string_view::npos)
    return make_error("bad_url", "'" + std::string(url) + "': user info in URLs is not supported");
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return make_error("bad_url", "'" + std::string(url) + "': unclosed '[' in host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return make_error("bad_url", "'" + std::string(url) + "': junk after ']'");
      port = after.substr(1);
      if (port.empty()) return make_error("bad_url", "'" + std::string(url) + "': empty port");
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return make_error("bad_url", "'" + std::string(url) + "': empty port");
  }
  if (host.empty()) return make_error("bad_url", "'" + std::string(url) + "' has no host");
  for (char c : host)
    if (c == ' ' || c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x21)
      return make_error("bad_url", "'" + std::string(url) + "': invalid character in host");
  t.host = std::string(host);
  t.port = t.tls ? 443 : 80;
  if (!port.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535)
      return make_error("bad_url", "'" + std::string(url) + "': port must be 1..65535, got '" +
                                       std::string(port) + "'");
    t.port = p;
  }
  if (path.empty()) {
    t.target = "/";
  } else if (path[0] == '?') {
    t.target = "/" + std::string(path);
  } else {
    t.target = std::string(path);
  }
  for (char c : t.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return make_error("bad_url",
                        "'" + std::string(url) + "': spaces or control characters in the path");
  return t;
}

Result<std::vector<std::string>> build_requests(const Target& target, const LoadRequestSpec& spec) {
  if (!is_token(spec.method))
    return make_error("bad_options", "method '" + spec.method + "' is not a valid HTTP method");
  bool has_host = false, has_length = false;
  std::string common;
  for (const auto& [name, value] : spec.headers) {
    if (!is_token(name))
      return make_error("bad_options", "header name '" + name + "' is not a valid HTTP token");
    if (has_line_break(value))
      return make_error("bad_options", "header '" + name + "' has a line break in its value");
    if (iequals(name, "host")) has_host = true;
    if (iequals(name, "content-length")) has_length = true;
    if (iequals(name, "transfer-encoding"))
      return make_error(
          "bad_options",
          "header Transfer-Encoding is not supported (bodies are sent with Content-Length)");
    common += name + ": " + value + "\r\n";
  }
  std::string head = spec.method + " " + target.target + " HTTP/1.1\r\n";
  if (!has_host) head += "Host: " + target.host_header() + "\r\n";
  head += common;
  if (!has_length && (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT" ||
                      spec.method == "PATCH"))
    head += "Content-Length: " + std::to_string(spec.body.size()) + "\r\n";

  std::vector<std::string> out;
  if (spec.bearer_tokens.empty()) {
    out.push_back(head + "\r\n" + spec.body);
    return out;
  }
  out.reserve(spec.bearer_tokens.size());
  for (const auto& token : spec.bearer_tokens) {
    if (token.empty() || has_line_break(token) || token.find(' ') != std::string::npos)
      return make_error("bad_options", "a bearer token is empty or holds spaces or line breaks");
    out.push_back(head + "Authorization: Bearer " + token + "\r\n\r\n" + spec.body);
  }
  return out;
}

}  // namespace gatedrill::loadgen
