#include "core/http/h1_response_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "core/http/h1_grammar.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {
namespace {

using h1::is_field_text;
using h1::is_token;
using h1::load8;

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

// Chunk extensions (RFC 9112 7.1.1), strictly: `;name` or `;name=value`, the value a token or
// a quoted string, no whitespace. Never relayed (the body is decoded), only checked, so
// nothing is accepted that Beast's parser refused before.
bool is_chunk_ext(std::string_view ext) {
  auto token_prefix = [](std::string_view s) {
    size_t n = 0;
    while (n < s.size() && h1::is_tchar(s[n])) ++n;
    return n;
  };
  while (!ext.empty()) {
    if (ext[0] != ';') return false;
    ext.remove_prefix(1);
    const size_t name = token_prefix(ext);
    if (name == 0) return false;
    ext.remove_prefix(name);
    if (ext.empty() || ext[0] != '=') continue;
    ext.remove_prefix(1);
    if (!ext.empty() && ext[0] == '"') {
      size_t i = 1;
      for (; i < ext.size() && ext[i] != '"'; ++i) {
        const auto c = static_cast<unsigned char>(ext[i]);
        if (c == '\\' && i + 1 < ext.size())
          ++i;
        else if ((c < 0x20 && c != '\t') || c == 0x7f)
          return false;
      }
      if (i == ext.size()) return false;  // no closing quote
      ext.remove_prefix(i + 1);
    } else {
      const size_t value = token_prefix(ext);
      if (value == 0) return false;
      ext.remove_prefix(value);
    }
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

// Eight bytes per step (the last step may overlap the one before): it runs on every field of
// every response.
bool equals_lower(std::string_view a, std::string_view lower) {
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

void H1ResponseParser::reset(bool head_request) {
  state_ = State::kHeaders;
  head_request_ = head_request;
  close_ = false;
  http10_ = false;
  has_length_ = false;
  chunked_ = false;
  status_ = 0;
  remaining_ = 0;
  length_ = 0;
  body_bytes_ = 0;
  head_offset_ = 0;
  head_size_ = 0;
  status_line_size_ = 0;
  error_ = "";
  fields_.clear();
}

void H1ResponseParser::fail(const char* why) {
  state_ = State::kError;
  error_ = why;
}

bool H1ResponseParser::take_body(uint64_t bytes) {
  body_bytes_ += bytes;
  if (body_bytes_ <= limits_.max_body_bytes) return true;
  fail("body limit exceeded");
  return false;
}

size_t H1ResponseParser::parse_head(std::string_view data) {
  // One pass over the lines (the head's end is the first empty line); an incomplete head is
  // parsed again from the start when more bytes arrived, so nothing here is kept until then.
  const size_t limit = std::min(data.size(), limits_.max_head_bytes);
  size_t line_end = data.find("\r\n");
  if (line_end == std::string_view::npos || line_end + 2 > limit) return head_incomplete(data);
  std::string_view status_line = data.substr(0, line_end);
  // "HTTP/1.1 200 OK"; the reason phrase may be empty, its space too.
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." ||
      (status_line[7] != '0' && status_line[7] != '1') || status_line[8] != ' ') {
    fail("malformed status line");
    return 0;
  }
  int status = 0;
  auto [ptr, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  if (ec != std::errc() || ptr != status_line.data() + 12 || status < 100 || status > 999 ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    fail("malformed status code");
    return 0;
  }
  if (!is_field_text(status_line.substr(12))) {
    fail("malformed status line");
    return 0;
  }
  if (limits_.keep_fields) {
    fields_.clear();
    fields_.reserve(16);  // one allocation for a usual head
  }
  bool chunked = false, has_length = false, keep_alive = false, close = false;
  unsigned long long length = 0;
  size_t pos = line_end + 2;
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos || eol + 2 > limit) return head_incomplete(data);
    if (eol == pos) break;  // the empty line: the head is complete
    std::string_view line = data.substr(pos, eol - pos);
    size_t colon = line.find(':');
    // A name is a token: no whitespace before the colon, no obs-fold (a line starting with
    // whitespace), no control bytes anywhere.
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
        !is_field_text(line.substr(colon + 1))) {
      fail("malformed header line");
      return 0;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (limits_.keep_fields)
      fields_.push_back(Field{static_cast<uint32_t>(pos), static_cast<uint32_t>(colon),
                              static_cast<uint32_t>(value.data() - data.data()),
                              static_cast<uint32_t>(value.size()),
                              static_cast<uint32_t>(eol + 2 - pos)});
    pos = eol + 2;
    // Only three names matter, told apart by length.
    switch (name.size()) {
      case 14: {
        if (!equals_lower(name, "content-length")) break;
        unsigned long long parsed = 0;
        auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), parsed);
        if (value.empty() || e != std::errc() || p != value.data() + value.size() ||
            (has_length && parsed != length)) {
          fail("bad Content-Length");
          return 0;
        }
        has_length = true;
        length = parsed;
        break;
      }
      case 17: {
        if (!equals_lower(name, "transfer-encoding")) break;
        chunked = false;
        bool tokens = true;  // codings are tokens (their parameters are not looked at)
        for_each_token(value, [&](std::string_view token) {
          const std::string_view coding = trim_ows(token.substr(0, token.find(';')));
          tokens &= token.empty() || is_token(coding);
          chunked |= equals_lower(token, "chunked");
        });
        if (!tokens) {
          fail("bad Transfer-Encoding");
          return 0;
        }
        if (!chunked) {
          fail("unsupported Transfer-Encoding");
          return 0;
        }
        break;
      }
      case 10: {
        if (!equals_lower(name, "connection")) break;
        bool tokens = true;  // a list of tokens, as the header that decides keep-alive
        for_each_token(value, [&](std::string_view token) {
          tokens &= token.empty() || is_token(token);
          close |= equals_lower(token, "close");
          keep_alive |= equals_lower(token, "keep-alive");
        });
        if (!tokens) {
          fail("bad Connection");
          return 0;
        }
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
  if (chunked && has_length) {  // a smuggling shape (RFC 9112 6.3): never guess
    fail("Content-Length and Transfer-Encoding together");
    return 0;
  }
  status_ = status;
  http10_ = status_line[7] == '0';
  close_ = http10_ ? (close || !keep_alive) : close;
  has_length_ = has_length;
  length_ = length;
  chunked_ = chunked;
  head_size_ = consumed;
  status_line_size_ = line_end;
  if (head_request_ || status == 204 || status == 304) {
    state_ = State::kDone;
  } else if (chunked) {
    state_ = State::kChunkSize;
  } else if (has_length) {
    if (length > limits_.max_body_bytes) {
      fail("body limit exceeded");
      return 0;
    }
    remaining_ = length;
    state_ = length == 0 ? State::kDone : State::kBody;
  } else {
    state_ = State::kUntilClose;
    close_ = true;
  }
  return consumed;
}

size_t H1ResponseParser::head_incomplete(std::string_view data) {
  // The whole head must fit max_head_bytes (the caller's buffer holds one).
  if (data.size() >= limits_.max_head_bytes) fail("response header section too large");
  return 0;
}

size_t H1ResponseParser::take_remaining(std::string_view rest, std::string* body, State next) {
  const size_t take = rest.size() < remaining_ ? rest.size() : static_cast<size_t>(remaining_);
  if (body) body->append(rest.data(), take);
  remaining_ -= take;
  if (remaining_ == 0) state_ = next;
  return take;
}

size_t H1ResponseParser::feed(std::string_view data, std::string* body) {
  size_t pos = 0;
  while (pos < data.size() && state_ != State::kDone && state_ != State::kError) {
    std::string_view rest = data.substr(pos);
    switch (state_) {
      case State::kHeaders: {
        size_t used = parse_head(rest);
        if (used == 0) return pos;
        if (head_done()) head_offset_ = pos;
        pos += used;
        break;
      }
      case State::kBody:
        pos += take_remaining(rest, body, State::kDone);
        break;
      case State::kChunkSize: {
        size_t eol = rest.find("\r\n");
        // Judged the same whether or not the line's end has arrived yet.
        if ((eol == std::string_view::npos ? rest.size() : eol) > kMaxChunkLine) {
          fail("chunk size line too long");
          return pos;
        }
        if (eol == std::string_view::npos) return pos;
        std::string_view line = rest.substr(0, eol);
        unsigned long long size = 0;
        auto [p, e] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (p == line.data() || e != std::errc() || (p != line.data() + line.size() && *p != ';')) {
          fail("bad chunk size");
          return pos;
        }
        if (!is_chunk_ext(line.substr(static_cast<size_t>(p - line.data())))) {
          fail("bad chunk extension");
          return pos;
        }
        if (!take_body(size)) return pos;
        pos += eol + 2;
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kChunkData:
        pos += take_remaining(rest, body, State::kChunkDataEnd);
        break;
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
        // Trailer fields are read past, not kept.
        size_t eol = rest.find("\r\n");
        if ((eol == std::string_view::npos ? rest.size() : eol) > limits_.max_head_bytes) {
          fail("trailer line too large");
          return pos;
        }
        if (eol == std::string_view::npos) return pos;
        if (eol > 0) {  // a trailer field: read past, but it must be one
          const std::string_view line = rest.substr(0, eol);
          const size_t colon = line.find(':');
          if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
              !is_field_text(line.substr(colon + 1))) {
            fail("malformed trailer field");
            return pos;
          }
        }
        pos += eol + 2;
        if (eol == 0) state_ = State::kDone;
        break;
      }
      case State::kUntilClose:
        if (!take_body(rest.size())) return pos;
        if (body) body->append(rest);
        pos = data.size();
        break;
      case State::kDone:
      case State::kError:
        break;
    }
  }
  return pos;
}

void H1ResponseParser::on_eof() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
  } else if (state_ != State::kDone && state_ != State::kError) {
    fail("connection closed before the response was complete");
  }
}

}  // namespace gatedrill
