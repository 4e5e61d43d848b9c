// Histogram blobs come from results databases users share: decoding must reject any corruption.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/histogram/histogram.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = gatedrill::Histogram::decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (decoded) {
    (void)decoded->percentile(99);
    (void)decoded->encode();
  }
  return 0;
}
