#pragma once
// The target URL and the pre-built request bytes (one per bearer token), built once before the
// load starts so the load loop only copies pointers.
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "loadgen/load_generator.hpp"

namespace gatedrill::loadgen {

struct Target {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  int port = 0;
  std::string target = "/";  // path and query as sent

  std::string host_header() const;  // "host[:port]" (the port only when not the default)
};

// Errors: "bad_url" naming what is wrong.
Result<Target> parse_url(std::string_view url);

// Every request the generator sends, in rotation order. Errors: "bad_options" (method or
// header with characters that would break the request line or header section).
Result<std::vector<std::string>> build_requests(const Target& target, const LoadRequestSpec& spec);

}  // namespace gatedrill::loadgen
