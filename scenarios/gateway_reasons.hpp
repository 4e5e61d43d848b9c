#pragma once
// What the gateways answered, by reason (circuit_open, max_requests, service_not_found, ...),
// read from their /metrics (gatedrill_gateway_requests_total{status,reason}). The clients only
// see status codes; a drill that must tell a breaker's 503 from a pool overflow's asks the
// gateways over each fault window (during(..., { reason_circuit_open = "> 0" })).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace gatedrill {

using ReasonCounts = std::map<std::string, int64_t>;  // reason -> answers so far

// The requests_total counters of a Prometheus text exposition, summed over status per reason.
ReasonCounts parse_reason_counts(std::string_view metrics_text);
// GET admin_url/metrics and parse it. Errors: the HTTP client's, or "admin_api" on a non-2xx.
Result<ReasonCounts> scrape_reasons(const std::string& admin_url);
// after - before per reason; a counter that went down (the node restarted) counts from zero.
ReasonCounts reason_delta(const ReasonCounts& before, const ReasonCounts& after);

// "reason_circuit_open" (a count) and "reason_circuit_open_share" (a share of the answers):
// the reason's name, or "" when the metric is not a reason metric.
std::string reason_of_metric(std::string_view metric);

}  // namespace gatedrill
