#pragma once
// Boost.JSON helpers: parsing with a clear error and typed field access for config and API
// bodies ("params.latency_ms must be a number").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/util/result.hpp"

namespace gatedrill {

// Errors: "bad_json" with the parser's message and offset.
Result<boost::json::value> parse_json(std::string_view text);
// As parse_json, and the top level must be an object. Errors: "bad_json".
Result<boost::json::object> parse_json_object(std::string_view text);

std::string to_json(const boost::json::value& value);

// Typed lookups. Absent -> nullopt; present with the wrong type -> an error naming the key.
Result<std::optional<std::string>> json_string(const boost::json::object& o, std::string_view key);
Result<std::optional<int64_t>> json_int(const boost::json::object& o, std::string_view key);
Result<std::optional<double>> json_number(const boost::json::object& o, std::string_view key);
Result<std::optional<bool>> json_bool(const boost::json::object& o, std::string_view key);

}  // namespace gatedrill
