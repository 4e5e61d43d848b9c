#pragma once
// Rate-limit quotas the registry distributes (seed 003's `quota_management` block), read from
// the small YAML subset such configs use: nested maps, lists of maps ("- key: value"), plain,
// quoted and numeric scalars. Anything else (flow style, anchors, multi-line strings, tabs)
// is rejected with its line number.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/util/result.hpp"

namespace gatedrill {

// The YAML subset as JSON. Errors: "bad_yaml" ("line 7: ...").
Result<boost::json::value> parse_simple_yaml(std::string_view text);

struct Quota {
  int64_t requests_per_second = 0;
  int64_t burst_capacity = 0;
};

struct QuotaConfig {
  std::string backend;           // "redis"
  std::string redis_connection;  // "redis://host:6379"
  Quota defaults;
  std::vector<std::pair<std::string, Quota>> overrides;  // service_id -> quota

  // The override for the service, else the defaults (a missing burst means the defaults').
  Quota for_service(std::string_view service_id) const;
};

// Errors: "bad_yaml", "bad_quota" (missing quota_management, non-positive rates, ...).
Result<QuotaConfig> parse_quota_config(std::string_view yaml);

}  // namespace gatedrill
