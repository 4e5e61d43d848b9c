#include "loadgen/response_parser.hpp"

#include <charconv>

#include "core/util/strings.hpp"

namespace gatedrill::loadgen {
namespace {

constexpr size_t kMaxChunkLine = 1024;

// ASCII case-insensitive equality; header names are compared by length first, so this runs
// only for the few candidates (no locale, no allocation: it runs once per header per response).
bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

// Strips optional whitespace (RFC 9110 OWS: spaces and tabs) from both ends; cheaper than a
// locale-aware trim on the per-response path.
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value holds token (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (same_name(trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void ResponseParser::reset(bool head_request) {
  state_ = State::kHeaders;
  head_request_ = head_request;
  close_ = false;
  status_ = 0;
  remaining_ = 0;
  error_ = "";
}

void ResponseParser::fail(const char* why) {
  state_ = State::kError;
  error_ = why;
}

size_t ResponseParser::parse_head(std::string_view data) {
  size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxHeadBytes) fail("response header section too large");
    return 0;
  }
  if (end + 4 > kMaxHeadBytes) {
    fail("response header section too large");
    return 0;
  }
  std::string_view head = data.substr(0, end);
  size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    fail("malformed status line");
    return 0;
  }
  bool http10 = status_line[7] == '0';
  int status = 0;
  auto [ptr, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  if (ec != std::errc() || ptr != status_line.data() + 12 || status < 100 || status > 999) {
    fail("malformed status code");
    return 0;
  }
  bool chunked = false, has_length = false, keep_alive = false, close = false;
  unsigned long long length = 0;
  std::string_view rest =
      line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail("malformed header line");
      return 0;
    }
    std::string_view name = line.substr(0, colon);
    // Only three names matter; the value is looked at (and trimmed) for those alone.
    if (name.size() != 14 && name.size() != 17 && name.size() != 10) continue;
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (same_name(name, "content-length")) {
      auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (e != std::errc() || p != value.data() + value.size() ||
          (has_length && length != remaining_)) {
        fail("bad Content-Length");
        return 0;
      }
      has_length = true;
      remaining_ = length;
    } else if (same_name(name, "transfer-encoding")) {
      chunked = has_token(value, "chunked");
      if (!chunked) {
        fail("unsupported Transfer-Encoding");
        return 0;
      }
    } else if (same_name(name, "connection")) {
      if (has_token(value, "close")) close = true;
      if (has_token(value, "keep-alive")) keep_alive = true;
    }
  }
  size_t consumed = end + 4;
  if (status < 200) {
    if (status == 101) fail("unexpected protocol switch");
    return consumed;  // an interim response: the real one follows
  }
  status_ = status;
  close_ = http10 ? (close || !keep_alive) : close;
  if (head_request_ || status == 204 || status == 304) {
    state_ = State::kDone;
  } else if (chunked) {
    state_ = State::kChunkSize;
  } else if (has_length) {
    remaining_ = length;
    state_ = length == 0 ? State::kDone : State::kBody;
  } else {
    state_ = State::kUntilClose;
    close_ = true;
  }
  return consumed;
}

size_t ResponseParser::feed(std::string_view data) {
  size_t pos = 0;
  while (pos < data.size() && state_ != State::kDone && state_ != State::kError) {
    std::string_view rest = data.substr(pos);
    switch (state_) {
      case State::kHeaders: {
        size_t used = parse_head(rest);
        if (used == 0) return pos;
        pos += used;
        break;
      }
      case State::kBody: {
        size_t take = rest.size() < remaining_ ? rest.size() : static_cast<size_t>(remaining_);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kChunkSize: {
        size_t eol = rest.find("\r\n");
        // Judged the same whether or not the line's end has arrived yet.
        if ((eol == std::string_view::npos ? rest.size() : eol) > kMaxChunkLine) {
          fail("chunk size line too long");
          return pos;
        }
        if (eol == std::string_view::npos) return pos;
        std::string_view line = rest.substr(0, eol);
        size_t semi = line.find(';');
        std::string_view hex = trim(line.substr(0, semi));
        unsigned long long size = 0;
        auto [p, e] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
        if (hex.empty() || e != std::errc() || p != hex.data() + hex.size()) {
          fail("bad chunk size");
          return pos;
        }
        pos += eol + 2;
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        size_t take = rest.size() < remaining_ ? rest.size() : static_cast<size_t>(remaining_);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        if (rest.size() < 2) return pos;
        if (rest[0] != '\r' || rest[1] != '\n') {
          fail("missing CRLF after chunk data");
          return pos;
        }
        pos += 2;
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        size_t eol = rest.find("\r\n");
        if ((eol == std::string_view::npos ? rest.size() : eol) > kMaxHeadBytes) {
          fail("trailer line too large");
          return pos;
        }
        if (eol == std::string_view::npos) return pos;
        pos += eol + 2;
        if (eol == 0) state_ = State::kDone;
        break;
      }
      case State::kUntilClose:
        pos = data.size();
        break;
      case State::kDone:
      case State::kError:
        break;
    }
  }
  return pos;
}

void ResponseParser::on_eof() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
  } else if (state_ != State::kDone && state_ != State::kError) {
    fail("connection closed before the response was complete");
  }
}

}  // namespace gatedrill::loadgen
