// The registry's quota YAML (PUT /v1/quotas): the YAML subset parser and the quota checks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/policy/quota_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)gatedrill::parse_simple_yaml(text);
  if (auto c = gatedrill::parse_quota_config(text)) (void)c->for_service("payment-gateway");
  return 0;
}
