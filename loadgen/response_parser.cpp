#include "loadgen/response_parser.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

#include "core/util/strings.hpp"

namespace gatedrill::loadgen {
namespace {

constexpr size_t kMaxChunkLine = 1024;

// Eight bytes at once with every ASCII upper-case letter lowered (and nothing else changed).
uint64_t lower8(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t low7 = x & ~kHigh;
  uint64_t above_z = low7 + (0x7f - 'Z') * kOnes;  // high bit: byte > 'Z'
  uint64_t from_a = low7 + (0x80 - 'A') * kOnes;   // high bit: byte >= 'A'
  uint64_t upper = (from_a ^ above_z) & ~x & kHigh;
  return x | (upper >> 2);
}

uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// ASCII case-insensitive equality with a lower-case literal. It runs on every response: eight
// bytes per step (the last step may overlap the one before).
bool same_name(std::string_view a, std::string_view lower) {
  const size_t n = a.size();
  if (n != lower.size()) return false;
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) {
      char x = a[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
      if (x != lower[i]) return false;
    }
    return true;
  }
  for (size_t i = 0;; i += 8) {
    if (i + 8 > n) i = n - 8;
    if (lower8(load8(a.data() + i)) != load8(lower.data() + i)) return false;
    if (i + 8 == n) return true;
  }
}

// Strips optional whitespace (RFC 9110 OWS: spaces and tabs) from both ends; cheaper than a
// locale-aware trim on the per-response path.
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls on_token for each comma-separated element of a header value, trimmed.
template <typename OnToken>
void for_each_token(std::string_view value, OnToken on_token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    on_token(trim_ows(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
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
  // One pass over the lines (the head's end is the first empty line); an incomplete head is
  // parsed again from the start when more bytes arrived, so nothing here is kept until then.
  const size_t limit = data.size() < kMaxHeadBytes ? data.size() : kMaxHeadBytes;
  size_t line_end = data.find("\r\n");
  if (line_end == std::string_view::npos || line_end + 2 > limit) return head_incomplete(data);
  std::string_view status_line = data.substr(0, line_end);
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
  size_t pos = line_end + 2;
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos || eol + 2 > limit) return head_incomplete(data);
    if (eol == pos) break;  // the empty line: the head is complete
    std::string_view line = data.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail("malformed header line");
      return 0;
    }
    std::string_view name = line.substr(0, colon);
    // Only three names matter, told apart by length; the value is looked at (and trimmed) for
    // those alone.
    switch (name.size()) {
      case 14: {
        if (!same_name(name, "content-length")) break;
        std::string_view value = trim_ows(line.substr(colon + 1));
        auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), length);
        if (e != std::errc() || p != value.data() + value.size() ||
            (has_length && length != remaining_)) {
          fail("bad Content-Length");
          return 0;
        }
        has_length = true;
        remaining_ = length;
        break;
      }
      case 17: {
        if (!same_name(name, "transfer-encoding")) break;
        chunked = false;
        for_each_token(trim_ows(line.substr(colon + 1)),
                       [&](std::string_view token) { chunked |= same_name(token, "chunked"); });
        if (!chunked) {
          fail("unsupported Transfer-Encoding");
          return 0;
        }
        break;
      }
      case 10: {
        if (!same_name(name, "connection")) break;
        for_each_token(trim_ows(line.substr(colon + 1)), [&](std::string_view token) {
          close |= same_name(token, "close");
          keep_alive |= same_name(token, "keep-alive");
        });
        break;
      }
      default:
        break;
    }
  }
  size_t consumed = pos + 2;
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

size_t ResponseParser::head_incomplete(std::string_view data) {
  // The whole head must fit kMaxHeadBytes (the caller's buffer holds one).
  if (data.size() >= kMaxHeadBytes) fail("response header section too large");
  return 0;
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
