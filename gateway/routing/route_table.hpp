#pragma once
// The route table: exact paths and path prefixes (on segment boundaries: "/api" matches "/api"
// and "/api/x", never "/apix"). Exact wins, then the longest prefix. Lookup cost is one hash
// probe per path segment, independent of the number of routes (50k routes as fast as 5).
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::gateway {

struct Route {
  std::string name;
  std::string path;  // "/api/items"
  bool prefix = true;
  std::string service;       // for service discovery; empty: the route's name
  std::string cluster = {};  // the upstream cluster (--clusters); empty: the default (--upstream)
};

class RouteTable {
 public:
  // Errors: "bad_route" (path not starting with '/', duplicate path+kind, empty name).
  Result<void> add(Route route);
  // The matching route, or nullptr. `path` without the query.
  const Route* match(std::string_view path) const;
  size_t size() const { return routes_.size(); }
  bool empty() const { return routes_.empty(); }
  const std::vector<Route>& routes() const { return routes_; }

  // [{"name": "items", "prefix": "/api/items", "service": "catalog", "cluster": "catalog"},
  //  {"name": "login", "exact": "/login"}] ("service" optional: the name; "cluster" optional:
  //  the default cluster)
  // Errors: "bad_routes" naming the entry.
  static Result<RouteTable> from_json(std::string_view json);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Route> routes_;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> exact_;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> prefixes_;
};

}  // namespace gatedrill::gateway
