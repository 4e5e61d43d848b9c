#pragma once
// Parsing of the human units used in scenarios, CLIs and fault params.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

// "250us", "10ms", "1.5s", "5m", "2h", "+5m", "-300s"; a bare number is seconds.
// Errors: "bad_duration" naming the text.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// "512", "4k"/"4KiB", "1M"/"1MiB", "2G" (binary multiples). Errors: "bad_size".
Result<int64_t> parse_size(std::string_view text);
// "1.2ms", "850us", "2.00s": a short human form of a duration.
std::string format_duration(std::chrono::nanoseconds d);

std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);

}  // namespace gatedrill
