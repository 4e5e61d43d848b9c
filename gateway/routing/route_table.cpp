#include "gateway/routing/route_table.hpp"

#include <utility>

#include <boost/json/array.hpp>

#include "core/util/json.hpp"

namespace gatedrill::gateway {

Result<void> RouteTable::add(Route route) {
  if (route.name.empty()) return make_error("bad_route", "route without a name");
  if (route.path.empty() || route.path[0] != '/')
    return make_error("bad_route", "route " + route.name + ": path must start with '/'");
  // "/api/" and "/api" are the same prefix.
  if (route.prefix && route.path.size() > 1 && route.path.back() == '/') route.path.pop_back();
  auto& index = route.prefix ? prefixes_ : exact_;
  if (index.count(route.path))
    return make_error("bad_route",
                      "route " + route.name + ": " + route.path + " is already routed");
  index.emplace(route.path, routes_.size());
  routes_.push_back(std::move(route));
  return {};
}

const Route* RouteTable::match(std::string_view path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &routes_[it->second];
  if (prefixes_.empty()) return nullptr;
  // Longest prefix first: the whole path, then each parent at a '/' boundary, then "/".
  std::string_view candidate = path;
  if (candidate.size() > 1 && candidate.back() == '/') candidate.remove_suffix(1);
  while (!candidate.empty()) {
    if (auto it = prefixes_.find(candidate); it != prefixes_.end()) return &routes_[it->second];
    auto slash = candidate.rfind('/');
    if (slash == std::string_view::npos) break;
    candidate = slash == 0 ? (candidate.size() > 1 ? candidate.substr(0, 1) : std::string_view{})
                           : candidate.substr(0, slash);
  }
  return nullptr;
}

Result<RouteTable> RouteTable::from_json(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc) return make_error("bad_routes", doc.error().message);
  if (!doc->is_array()) return make_error("bad_routes", "routes must be a JSON array");
  RouteTable table;
  size_t i = 0;
  for (const auto& entry : doc->as_array()) {
    const std::string where = "routes[" + std::to_string(i++) + "]";
    if (!entry.is_object()) return make_error("bad_routes", where + " must be an object");
    const auto& o = entry.as_object();
    auto name = json_string(o, "name");
    auto prefix = json_string(o, "prefix");
    auto exact = json_string(o, "exact");
    auto service = json_string(o, "service");
    auto cluster = json_string(o, "cluster");
    if (!name || !prefix || !exact || !service || !cluster)
      return make_error("bad_routes",
                        where + ": name/prefix/exact/service/cluster must be strings");
    if (!*name) return make_error("bad_routes", where + " needs a name");
    if (prefix->has_value() == exact->has_value())
      return make_error("bad_routes", where + " needs exactly one of prefix and exact");
    Route route{**name, prefix->has_value() ? **prefix : **exact, prefix->has_value(),
                service->value_or(**name), cluster->value_or("")};
    if (auto added = table.add(std::move(route)); !added)
      return make_error("bad_routes", where + ": " + added.error().message);
  }
  return table;
}

}  // namespace gatedrill::gateway
