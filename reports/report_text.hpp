#pragma once
// Small text helpers the report formats share: printf into a string, escaping for HTML/XML,
// and the human forms of latencies, times and shares.
#include <cstdint>
#include <string>
#include <string_view>

namespace gatedrill {

std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
// Escapes & < > " ' (valid for HTML text, attributes and XML).
std::string xml_escape(std::string_view text);
// Markdown table cells: escapes | and drops newlines.
std::string md_cell(std::string_view text);
// "1.2ms", "850us"; "-" for 0 (no data).
std::string format_latency_ns(int64_t ns);
// "2026-12-01 12:00:00 UTC".
std::string format_wall_time(int64_t wall_ms);
// "1.25%" of a 0..1 share.
std::string format_share(double share);
// "+12.3%" / "-4.0%" relative change of candidate against base; "n/a" when base is 0.
std::string format_change(double base, double candidate);

}  // namespace gatedrill
