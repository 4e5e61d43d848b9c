// parse_jose_json against boost::json::parse with the same depth limit, on arbitrary bytes: what
// it accepts Boost.JSON accepts as the same value (so duplicate tracking never changes a value),
// what Boost.JSON refuses it refuses as bad_json, and it only adds "duplicate_name" refusals.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/jose_json.hpp"

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
  return 0;
}
