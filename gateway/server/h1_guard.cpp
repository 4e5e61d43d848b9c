#include "gateway/server/h1_guard.hpp"

#include <cstdint>

#include "core/http/h1_grammar.hpp"
#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {

HeadVerdict bad(std::string message) {
  return HeadVerdict{400, "bad_request", std::move(message)};
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The first index from `i` of a block that may hold a byte at most CR (13), or where fewer
// than a block's bytes are left: 16 bytes per step with SSE2, else 8 (the word test "has a
// byte less than 14" has no false negatives).
size_t skip_above_cr(std::string_view s, size_t i) {
#ifdef __SSE2__
  for (; i + 16 <= s.size(); i += 16)
    if (h1::mask16_at_most(s.data() + i, '\r') != 0) return i;
#endif
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  while (i + 8 <= s.size()) {
    const uint64_t word = h1::load8(s.data() + i);
    if (((word - kOnes * 14) & ~word & (kOnes * 0x80)) != 0) break;
    i += 8;
  }
  return i;
}

}  // namespace

HeadScan scan_request_head(std::string_view received, size_t max_uri_bytes, size_t max_head_bytes) {
  HeadScan scan;
  // Tolerate empty lines before the request line (RFC 9112 2.2), as long as they are CRLF.
  for (size_t i = 0; i < received.size(); ++i) {
    // Every byte the checks below look at is at most CR: skip eight at a time while a word
    // holds none (a head is mostly a kilobyte of token; byte by byte this loop was 10,000
    // instructions a request).
    i = skip_above_cr(received, i);
    if (i == received.size()) break;
    const char c = received[i];
    if (static_cast<unsigned char>(c) > '\r') continue;
    if (c == '\0') {
      scan.state = HeadScan::State::kRejected;
      scan.rejection = bad("NUL byte in the request head");
      return scan;
    }
    if (c == '\n' && (i == 0 || received[i - 1] != '\r')) {
      scan.state = HeadScan::State::kRejected;
      scan.rejection = bad("bare LF in the request head");
      return scan;
    }
    if (c == '\r' && i + 1 < received.size() && received[i + 1] != '\n') {
      scan.state = HeadScan::State::kRejected;
      scan.rejection = bad("bare CR in the request head");
      return scan;
    }
    if (c == '\n' && i >= 3 && received.substr(i - 3, 4) == "\r\n\r\n") {
      scan.state = HeadScan::State::kComplete;
      scan.head_size = i + 1;
      return scan;
    }
  }
  const size_t line_end = received.find("\r\n");
  const size_t line = line_end == std::string_view::npos ? received.size() : line_end;
  if (line > max_uri_bytes + 32) {  // method, spaces and version around the target
    scan.state = HeadScan::State::kRejected;
    scan.rejection = HeadVerdict{414, "uri_too_long", "request line exceeds the URI limit"};
  } else if (received.size() > max_head_bytes + max_uri_bytes + 32) {
    scan.state = HeadScan::State::kRejected;
    scan.rejection = HeadVerdict{431, "headers_too_large", "request head exceeds the header limit"};
  }
  return scan;
}

std::optional<HeadVerdict> check_request_head(std::string_view head) {
  // The head's lines, one at a time (no vector of them: this runs on every request).
  size_t next = 0;
  auto next_line = [&](std::string_view& line) {
    if (next > head.size()) return false;
    const size_t end = head.find('\n', next);
    line = head.substr(next, end == std::string_view::npos ? std::string_view::npos : end - next);
    next = end == std::string_view::npos ? head.size() + 1 : end + 1;
    return true;
  };
  // Skip leading empty lines; the first non-empty one is the request line.
  std::string_view request_line;
  do {
    if (!next_line(request_line)) return bad("empty request");
  } while (request_line.empty() || request_line == "\r");
  if (request_line.back() == '\r') request_line.remove_suffix(1);
  // Exactly two spaces: METHOD SP target SP version.
  const size_t space1 = request_line.find(' ');
  const size_t space2 =
      space1 == std::string_view::npos ? space1 : request_line.find(' ', space1 + 1);
  if (space2 == std::string_view::npos ||
      request_line.find(' ', space2 + 1) != std::string_view::npos)
    return bad("request line must be 'METHOD target HTTP/1.x'");
  std::string_view target = request_line.substr(space1 + 1, space2 - space1 - 1);
  const bool http11 = request_line.substr(space2 + 1) == "HTTP/1.1";

  int hosts = 0, content_lengths = 0, transfer_encodings = 0;
  std::string_view host;
  for (std::string_view line; next_line(line);) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line
    if (line.front() == ' ' || line.front() == '\t')
      return bad("obs-fold line continuation in a header");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return bad("header line without a field name");
    std::string_view name = line.substr(0, colon);
    for (char c : name)
      if (!h1::is_tchar(c))
        return bad(c == ' ' || c == '\t' ? "whitespace before the colon in a header"
                                         : "invalid character in a header name");
    std::string_view raw_value = line.substr(colon + 1);
    std::string_view value = trim(raw_value);
    if (iequals(name, "host")) {
      ++hosts;
      host = value;
    } else if (iequals(name, "content-length")) {
      if (++content_lengths > 1) return bad("more than one Content-Length");
      if (!all_digits(value)) return bad("invalid Content-Length");
    } else if (iequals(name, "transfer-encoding")) {
      if (++transfer_encodings > 1) return bad("more than one Transfer-Encoding");
      // Only the canonical spelling: a smuggler relies on the two parsers reading it differently.
      if (!iequals(raw_value, "chunked") && !iequals(raw_value, " chunked"))
        return bad("unsupported or obfuscated Transfer-Encoding");
    }
  }
  if (content_lengths && transfer_encodings)
    return bad("Content-Length and Transfer-Encoding together");
  if (http11 && hosts == 0) return bad("missing Host header");
  if (hosts > 1) return bad("more than one Host header");
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      std::string_view authority = target.substr(scheme.size());
      authority = authority.substr(0, authority.find_first_of("/?#"));
      if (!iequals(authority, host)) return bad("absolute-form URI names another host than Host");
    }
  }
  return std::nullopt;
}

}  // namespace gatedrill::gateway
