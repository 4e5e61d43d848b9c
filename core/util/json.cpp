#include "core/util/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gatedrill {

Result<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 64;  // deep nesting is hostile input, not data
  boost::json::value value = boost::json::parse(text, ec, {}, options);
  if (ec) return make_error("bad_json", "invalid JSON: " + ec.message());
  return value;
}

Result<boost::json::object> parse_json_object(std::string_view text) {
  auto value = parse_json(text);
  if (!value) return value.error();
  if (!value->is_object()) return make_error("bad_json", "expected a JSON object");
  return std::move(value->as_object());
}

std::string to_json(const boost::json::value& value) { return boost::json::serialize(value); }

namespace {
const boost::json::value* find(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}
Error wrong_type(std::string_view key, std::string_view want) {
  return make_error("bad_params", std::string(key) + " must be " + std::string(want));
}
}  // namespace

Result<std::optional<std::string>> json_string(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return wrong_type(key, "a string");
  return std::optional<std::string>{std::string(v->as_string())};
}

Result<std::optional<int64_t>> json_int(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v) return std::optional<int64_t>{};
  if (v->is_int64()) return std::optional<int64_t>{v->as_int64()};
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return std::optional<int64_t>{static_cast<int64_t>(v->as_uint64())};
  if (v->is_double()) {
    double d = v->as_double();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return std::optional<int64_t>{static_cast<int64_t>(d)};
  }
  return wrong_type(key, "an integer");
}

Result<std::optional<double>> json_number(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v) return std::optional<double>{};
  if (v->is_double()) return std::optional<double>{v->as_double()};
  if (v->is_int64()) return std::optional<double>{static_cast<double>(v->as_int64())};
  if (v->is_uint64()) return std::optional<double>{static_cast<double>(v->as_uint64())};
  return wrong_type(key, "a number");
}

Result<std::optional<bool>> json_bool(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v) return std::optional<bool>{};
  if (!v->is_bool()) return wrong_type(key, "true or false");
  return std::optional<bool>{v->as_bool()};
}

}  // namespace gatedrill
