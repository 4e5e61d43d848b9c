#include "scenarios/gateway_reasons.hpp"

#include <cstdlib>

#include "core/http/http_client.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {

namespace {
constexpr std::string_view kCounter = "gatedrill_gateway_requests_total{";
constexpr std::string_view kPrefix = "reason_";
constexpr std::string_view kShare = "_share";
}  // namespace

ReasonCounts parse_reason_counts(std::string_view text) {
  ReasonCounts out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.substr(0, kCounter.size()) != kCounter) continue;
    size_t close = line.find('}');
    if (close == std::string_view::npos) continue;
    std::string_view labels = line.substr(kCounter.size(), close - kCounter.size());
    size_t at = labels.find("reason=\"");
    if (at == std::string_view::npos) continue;
    std::string_view reason = labels.substr(at + 8);
    reason = reason.substr(0, reason.find('"'));
    std::string value(trim(line.substr(close + 1)));
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || v < 0) continue;
    out[std::string(reason)] += static_cast<int64_t>(v);
  }
  return out;
}

Result<ReasonCounts> scrape_reasons(const std::string& admin_url) {
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(2);
  auto r = http_get(admin_url + "/metrics", options);
  if (!r) return r.error();
  if (r->status / 100 != 2)
    return make_error("admin_api", "GET /metrics answered " + std::to_string(r->status));
  return parse_reason_counts(r->body);
}

ReasonCounts reason_delta(const ReasonCounts& before, const ReasonCounts& after) {
  ReasonCounts out;
  for (const auto& [reason, count] : after) {
    auto it = before.find(reason);
    int64_t base = it == before.end() ? 0 : it->second;
    out[reason] = count >= base ? count - base : count;
  }
  return out;
}

std::string reason_of_metric(std::string_view metric) {
  if (metric.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view rest = metric.substr(kPrefix.size());
  if (rest.size() > kShare.size() && rest.substr(rest.size() - kShare.size()) == kShare)
    rest = rest.substr(0, rest.size() - kShare.size());
  return std::string(rest);
}

}  // namespace gatedrill
