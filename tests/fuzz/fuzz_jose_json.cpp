// parse_jose_json against boost::json::parse with the same depth limit, on arbitrary bytes: what
// it accepts Boost.JSON accepts as the same value (so duplicate tracking never changes a value),
// what Boost.JSON refuses it refuses as bad_json, and it only adds "duplicate_name" refusals.
// parse_jose_members (no tree) against parse_jose_json: the same refusals, "not_object" for
// any other top-level value, and each named member as the tree holds it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/jose_json.hpp"

namespace {

// The value as the tree would hold it, in JSON; members of members only by kind.
std::string shown(const gatedrill::JoseValue& v, bool top) {
  using Kind = gatedrill::JoseValue::Kind;
  switch (v.kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return v.as_bool() ? "true" : "false";
    case Kind::kInt64:
      return boost::json::serialize(boost::json::value(v.as_int64()));
    case Kind::kUint64:
      return boost::json::serialize(boost::json::value(v.as_uint64()));
    case Kind::kDouble:
      return boost::json::serialize(boost::json::value(v.as_double()));
    case Kind::kString:
      return boost::json::serialize(boost::json::value(v.as_string()));
    case Kind::kObject:
      return "object";
    case Kind::kArray: {
      if (!top) return "array";
      std::string out = "[";
      for (const auto& member : v.as_array()) out += shown(member, false) + ",";
      return out + "]";
    }
  }
  return "?";
}

std::string shown(const boost::json::value& v, bool top) {
  if (v.is_object()) return "object";
  if (v.is_array()) {
    if (!top) return "array";
    std::string out = "[";
    for (const auto& member : v.as_array()) out += shown(member, false) + ",";
    return out + "]";
  }
  return boost::json::serialize(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ours = gatedrill::parse_jose_json(text, {});
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::json::value reference = boost::json::parse(text, ec, {}, options);
  if (ours.ok()) {
    if (ec || boost::json::serialize(*ours) != boost::json::serialize(reference)) std::abort();
  } else if (ours.error().code == "bad_json") {
    if (!ec) std::abort();
  } else if (ours.error().code != "duplicate_name") {
    std::abort();
  }

  static constexpr std::string_view kNames[] = {"a", "b", "iss", "aud", "exp", ""};
  static gatedrill::JoseBuffers buffers;
  static gatedrill::JoseValue found[std::size(kNames)];  // reused, as a JwtView's
  auto members = gatedrill::parse_jose_members(text, kNames, found, buffers);
  if (!ours.ok()) {
    if (members.ok() || members.error().code != ours.error().code) std::abort();
  } else if (!ours->is_object()) {
    if (members.ok() || members.error().code != "not_object") std::abort();
  } else {
    if (!members.ok()) std::abort();
    for (size_t i = 0; i < std::size(kNames); ++i) {
      const auto* member = ours->as_object().if_contains(kNames[i]);
      if ((member != nullptr) != ((*members & (1u << i)) != 0)) std::abort();
      if (member != nullptr && shown(*member, true) != shown(found[i], true)) std::abort();
    }
  }
  return 0;
}
