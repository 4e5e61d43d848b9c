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

// Every request the generator sends, in rotation order. Without a path mix or bad tokens, one
// per bearer token. Otherwise a cycle long enough to hold every good token once and to resolve
// the shares to 0.1%: over each cycle the paths appear exactly in proportion to their weights
// (smooth weighted round robin, so no path comes in bursts) and bad tokens in exactly
// floor(cycle * share) evenly spread slots. Errors: "bad_options" (method, header, token or
// path with characters that would break the request, a share outside 0..1, a weight < 1).
Result<std::vector<std::string>> build_requests(const Target& target, const LoadRequestSpec& spec);

// "/a:3" -> {"/a", 3}; "/a" -> {"/a", 1}. Errors: "bad_options" (not starting with '/', a weight
// outside 1..1000000).
Result<WeightedPath> parse_weighted_path(std::string_view text);

// The token with its signature (the part after the last '.') corrupted so no verifier accepts
// it; a token without a '.' gets a junk suffix.
std::string corrupt_token(const std::string& token);

}  // namespace gatedrill::loadgen
