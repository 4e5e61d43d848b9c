// The gateway's strict HTTP/1.1 head guard on arbitrary bytes: never crash, and a head it calls
// complete really ends with the blank line within the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/server/h1_guard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto scan = gatedrill::gateway::scan_request_head(bytes, 256, 1024);
  if (scan.state == gatedrill::gateway::HeadScan::State::kComplete) {
    if (scan.head_size > size || scan.head_size < 4 ||
        bytes.substr(scan.head_size - 4, 4) != "\r\n\r\n")
      std::abort();
    (void)gatedrill::gateway::check_request_head(bytes.substr(0, scan.head_size));
  }
  (void)gatedrill::gateway::check_request_head(bytes);
  return 0;
}
