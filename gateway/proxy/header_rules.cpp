#include "gateway/proxy/header_rules.hpp"

#include <array>

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

}  // namespace

bool is_hop_by_hop(std::string_view name, std::string_view connection_value) {
  static constexpr std::array<std::string_view, 8> kHopByHop = {
      "connection", "keep-alive",        "proxy-connection", "te",
      "trailer",    "transfer-encoding", "upgrade",          "proxy-authenticate"};
  for (auto h : kHopByHop)
    if (iequals(name, h)) return true;
  for (auto token : split(connection_value, ','))
    if (!trim(token).empty() && iequals(trim(token), name)) return true;
  return false;
}

bool is_internal_header(std::string_view name) {
  return istarts_with(name, "x-gatedrill-") || istarts_with(name, "x-envoy-");
}

bool is_fingerprint_header(std::string_view name) {
  return iequals(name, "server") || iequals(name, "x-powered-by");
}

}  // namespace gatedrill::gateway
