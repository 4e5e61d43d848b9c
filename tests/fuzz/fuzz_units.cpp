// Durations, sizes and threshold expressions typed by users in scenarios and on command lines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "scenarios/thresholds.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)gatedrill::parse_duration(text);
  (void)gatedrill::parse_size(text);
  auto split = text.find('|');
  if (split != std::string_view::npos) (void)gatedrill::parse_threshold(text.substr(0, split), text.substr(split + 1));
  (void)gatedrill::parse_json(text);
  return 0;
}
