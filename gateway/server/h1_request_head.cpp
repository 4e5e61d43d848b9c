#include "gateway/server/h1_request_head.hpp"

#include <boost/beast/http/field.hpp>

#include "core/http/h1_grammar.hpp"

namespace gatedrill::gateway {
namespace {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

// A request target's bytes as Beast's parser takes them: VCHAR and obs-text.
bool is_target_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// One or more tokens separated by commas, whitespace around them allowed, no empty element:
// stricter than Beast's list rule for Connection, so a value Beast might refuse goes to it.
bool is_plain_token_list(std::string_view v) {
  size_t i = 0;
  for (;;) {
    while (i < v.size() && is_ows(v[i])) ++i;
    const size_t start = i;
    while (i < v.size() && h1::is_tchar(v[i])) ++i;
    if (i == start) return false;
    while (i < v.size() && is_ows(v[i])) ++i;
    if (i == v.size()) return true;
    if (v[i++] != ',') return false;
  }
}

// The field lines from `pos` to the blank line that ends the head.
bool read_fields(std::string_view head, size_t pos, Request& into) {
  for (;;) {
    if (pos + 2 > head.size()) return false;
    if (head[pos] == '\r') return head[pos + 1] == '\n' && pos + 2 == head.size();
    size_t colon = pos;
    while (colon < head.size() && h1::is_tchar(head[colon])) ++colon;
    if (colon == pos || colon == head.size() || head[colon] != ':') return false;
    const std::string_view name = head.substr(pos, colon - pos);
    size_t value = colon + 1;
    while (value < head.size() && is_ows(head[value])) ++value;
    // The value runs to the first control byte, which must be the line's CR; a line may not
    // start with whitespace (obs-fold).
    const size_t eol = h1::find_control(head, value);
    if (eol + 2 >= head.size() || head[eol] != '\r' || head[eol + 1] != '\n' ||
        is_ows(head[eol + 2]))
      return false;
    size_t value_end = eol;
    while (value_end > value && is_ows(head[value_end - 1])) --value_end;
    const std::string_view text = head.substr(value, value_end - value);
    const http::field field = http::string_to_field(name);
    if (field == http::field::content_length || field == http::field::transfer_encoding)
      return false;  // a body: Beast frames it
    if ((field == http::field::connection || field == http::field::proxy_connection) &&
        !is_plain_token_list(text))
      return false;
    into.insert(field, name, text);
    pos = eol + 2;
  }
}

}  // namespace

bool read_plain_request_head(std::string_view head, Request& into) {
  // METHOD SP target SP HTTP/1.x CRLF
  size_t i = 0;
  while (i < head.size() && h1::is_tchar(head[i])) ++i;
  if (i == 0 || i == head.size() || head[i] != ' ') return false;
  const std::string_view method = head.substr(0, i);
  const size_t target_start = ++i;
  while (i < head.size() && is_target_byte(head[i])) ++i;
  if (i == target_start || i == head.size() || head[i] != ' ') return false;
  const std::string_view target = head.substr(target_start, i - target_start);
  const std::string_view version = head.substr(i + 1, 10);
  int version_number = 0;
  if (version == "HTTP/1.1\r\n")
    version_number = 11;
  else if (version == "HTTP/1.0\r\n")
    version_number = 10;
  else
    return false;
  if (!read_fields(head, i + 11, into)) {
    into = {};
    return false;
  }
  // As Beast's parser sets them: a known method as its verb, another by its text.
  into.method_string(method);
  into.target(target);
  into.version(version_number);
  return true;
}

}  // namespace gatedrill::gateway
