#pragma once
// A strict pre-parse of the raw HTTP/1.1 request head, for the request-smuggling and framing
// tricks a lenient parser would let through (BAD-INPUTS.md): bare CR/LF, NUL, obs-fold,
// whitespace before the colon, obfuscated or duplicated Transfer-Encoding, invalid or duplicate
// Content-Length, CL with TE, missing/duplicate Host, absolute-form URI naming another host.
// Pure functions over bytes: no I/O, fuzzable.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gatedrill::gateway {

struct HeadVerdict {
  int status = 400;
  std::string reason;   // "bad_request", "uri_too_long", "headers_too_large"
  std::string message;  // specific: "bare LF in the request head"
};

struct HeadScan {
  enum class State { kNeedMore, kComplete, kRejected };
  State state = State::kNeedMore;
  size_t head_size = 0;  // bytes up to and including the blank line (kComplete)
  std::optional<HeadVerdict> rejection;
};

// Looks at the bytes received so far. kNeedMore until the blank line arrives (rejecting early
// when a framing error is already visible or `max_head_bytes` is exceeded: 414 when the request
// line alone is longer than `max_uri_bytes`, else 431).
HeadScan scan_request_head(std::string_view received, size_t max_uri_bytes, size_t max_head_bytes);

// The complete head (as delimited by scan_request_head): field-level rules.
std::optional<HeadVerdict> check_request_head(std::string_view head);

}  // namespace gatedrill::gateway
