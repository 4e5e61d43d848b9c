// HTTP/1.1 responses as the load generator reads them off a connection (hostile or truncated
// bytes), and target URLs: never crash, never consume more than given, and the parser's verdict
// (done with the same status and the same leftover, or failed) does not depend on how the bytes
// are split across reads; nor does the body it keeps, and the fields it records lie inside the
// head.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/http/h1_response_parser.hpp"
#include "loadgen/request_plan.hpp"

namespace {

struct Verdict {
  bool done = false;
  bool failed = false;
  int status = 0;
  size_t leftover = 0;
  std::string body;  // as the gateway keeps it (chunks decoded)
};

// Feeds bytes in pieces of `step` like the load loop (unconsumed bytes stay buffered).
Verdict parse_in_steps(std::string_view bytes, size_t step, bool head) {
  gatedrill::H1ResponseParser::Limits limits;
  limits.keep_fields = true;  // the gateway's way: fields recorded, body kept
  gatedrill::H1ResponseParser p(limits);
  p.reset(head);
  std::string buffer, body;
  size_t next = 0;
  while (!p.done() && !p.failed() && next < bytes.size()) {
    std::string_view piece = bytes.substr(next, step);
    buffer.append(piece);
    next += piece.size();
    const bool had_head = p.head_done();
    size_t used = p.feed(buffer, &body);
    if (used > buffer.size()) std::abort();
    if (!had_head && p.head_done()) {
      // Every field lies inside the head, its value inside its line.
      if (p.head_offset() + p.head_size() > buffer.size()) std::abort();
      for (const auto& f : p.fields())
        if (f.name_offset + f.line_size > p.head_size() ||
            f.value_offset + f.value_size > f.name_offset + f.line_size)
          std::abort();
    }
    buffer.erase(0, used);
  }
  if (!p.done() && !p.failed()) p.on_eof();
  Verdict v{p.done(), p.failed(), p.done() ? p.status() : 0, buffer.size() + (bytes.size() - next),
            body};
  if (v.body.size() > bytes.size()) std::abort();
  if (v.done && (v.status < 200 || v.status > 999)) std::abort();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (size > 0 && size < 300) {
    auto url = gatedrill::loadgen::parse_url(bytes);
    if (url.ok() &&
        (url->port < 1 || url->port > 65535 || url->host.empty() || url->target.empty()))
      std::abort();
  }
  bool head = size > 0 && (data[0] & 1) != 0;
  Verdict whole = parse_in_steps(bytes, size == 0 ? 1 : size, head);
  for (size_t step : {size_t{1}, size_t{7}, size / 2 + 1}) {
    Verdict split = parse_in_steps(bytes, step, head);
    // Until-close bodies and over-long heads may only be judged once all bytes are in, so the
    // verdict (not the moment) must agree.
    if (split.done != whole.done || split.failed != whole.failed || split.status != whole.status)
      std::abort();
    if (whole.done && (split.leftover != whole.leftover || split.body != whole.body)) std::abort();
  }
  return 0;
}
