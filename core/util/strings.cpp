#include "core/util/strings.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace gatedrill {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {
// Splits "1.5ms" into 1.5 and "ms". False when there is no leading number.
bool split_number(std::string_view text, double& number, std::string_view& unit) {
  std::string s(text);
  char* end = nullptr;
  number = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(number)) return false;
  unit = text.substr(static_cast<size_t>(end - s.c_str()));
  return true;
}
}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::string_view t = trim(text);
  double number = 0;
  std::string_view unit;
  if (t.empty() || !split_number(t, number, unit))
    return make_error("bad_duration", "'" + std::string(text) + "' is not a duration (try 250ms, 2s, 5m)");
  unit = trim(unit);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ns") scale = 1;
  else if (unit == "us" || unit == "µs") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else
    return make_error("bad_duration", "'" + std::string(text) + "': unknown unit '" + std::string(unit) +
                                          "' (use ns, us, ms, s, m, h)");
  double ns = number * scale;
  if (std::fabs(ns) > 9.0e18) return make_error("bad_duration", "'" + std::string(text) + "' is too large");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

Result<int64_t> parse_size(std::string_view text) {
  std::string_view t = trim(text);
  double number = 0;
  std::string_view unit;
  if (t.empty() || !split_number(t, number, unit) || number < 0)
    return make_error("bad_size", "'" + std::string(text) + "' is not a size (try 512, 4k, 1MiB)");
  std::string u = to_lower(trim(unit));
  double scale = 0;
  if (u.empty() || u == "b") scale = 1;
  else if (u == "k" || u == "kb" || u == "kib") scale = 1024.0;
  else if (u == "m" || u == "mb" || u == "mib") scale = 1024.0 * 1024;
  else if (u == "g" || u == "gb" || u == "gib") scale = 1024.0 * 1024 * 1024;
  else return make_error("bad_size", "'" + std::string(text) + "': unknown unit (use k, M, G)");
  return static_cast<int64_t>(std::llround(number * scale));
}

std::string format_duration(std::chrono::nanoseconds d) {
  char buf[32];
  double ns = static_cast<double>(d.count());
  double a = std::fabs(ns);
  if (a < 1e3) std::snprintf(buf, sizeof buf, "%.0fns", ns);
  else if (a < 1e6) std::snprintf(buf, sizeof buf, "%.0fus", ns / 1e3);
  else if (a < 1e9) std::snprintf(buf, sizeof buf, a < 1e7 ? "%.2fms" : "%.1fms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  return buf;
}

}  // namespace gatedrill
