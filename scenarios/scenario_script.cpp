#include "scenarios/scenario_script.hpp"

#include <lua.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "core/util/strings.hpp"
#include "scenarios/fault_catalog.hpp"
#include "scenarios/lua_state.hpp"
#include "scenarios/scenario_files.hpp"
#include "scenarios/thresholds.hpp"

namespace gatedrill {

struct ScenarioScript::Context {
  Scenario scenario;
  std::set<std::string> used_params;
  bool seen_scenario = false, seen_topology = false, seen_load = false;
  std::vector<ExpectSpec> pending_expects;  // made by during()/after(), claimed by expect{}
  // While a timeline callback runs: the dry run records here, a live run applies to sink.
  std::vector<FaultAction>* recording = nullptr;
  FaultSink* sink = nullptr;
};

namespace {

using Context = ScenarioScript::Context;
const char kContextKey = 0;  // its address keys the Context in the Lua registry

Context& context_of(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kContextKey);
  auto* c = static_cast<Context*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return *c;
}

std::string where(lua_State* L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
    // ar.source is the full chunk name ("@path"); short_src may be cut to "...tail".
    std::string file = ar.source && ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
    return file + ":" + std::to_string(ar.currentline);
  }
  return "?";
}

// Lua reports errors with longjmp, which must not cross live C++ objects. So API functions are
// written as Impl(L, context, error) with no Lua error raised inside; the wrapper raises the
// error after every C++ object of the Impl is gone.
using Impl = int (*)(lua_State*, Context&, std::string&);

template <Impl impl>
int api(lua_State* L) {
  int results = 0;
  bool failed = false;
  {
    std::string error;
    results = impl(L, context_of(L), error);
    if (!error.empty()) {
      std::string message = where(L) + ": " + error;
      lua_pushlstring(L, message.data(), message.size());
      failed = true;
    }
  }
  if (failed) return lua_error(L);
  return results;
}

// Reads a Lua table's fields by name with type checks; unknown keys are errors (a typo in a
// scenario must not silently mean "use the default").
class Fields {
 public:
  Fields(lua_State* L, int index, std::string what)
      : L_(L), index_(lua_absindex(L, index)), what_(std::move(what)) {}

  // Every string key must be one of allowed; positional entries are allowed only if positional.
  bool check_keys(std::initializer_list<const char*> allowed, std::string& error,
                  bool positional = false) {
    lua_pushnil(L_);
    while (lua_next(L_, index_) != 0) {
      lua_pop(L_, 1);  // value
      if (lua_type(L_, -1) == LUA_TSTRING) {
        std::string key = lua_tostring(L_, -1);
        if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
          std::string known;
          for (const char* a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
          error = what_ + ": unknown key '" + key + "' (known: " + known + ")";
          lua_pop(L_, 1);
          return false;
        }
      } else if (!positional || !lua_isinteger(L_, -1)) {
        error = what_ + ": unexpected " + std::string(luaL_typename(L_, -1)) + " key";
        lua_pop(L_, 1);
        return false;
      }
    }
    return true;
  }

  int type(const char* key) {
    lua_getfield(L_, index_, key);
    int t = lua_type(L_, -1);
    lua_pop(L_, 1);
    return t;
  }

  std::optional<std::string> string(const char* key, std::string& error) {
    lua_getfield(L_, index_, key);
    std::optional<std::string> out;
    if (lua_type(L_, -1) == LUA_TSTRING)
      out = lua_tostring(L_, -1);
    else if (!lua_isnil(L_, -1))
      error = what_ + "." + key + " must be a string";
    lua_pop(L_, 1);
    return out;
  }

  std::optional<double> number(const char* key, std::string& error) {
    lua_getfield(L_, index_, key);
    std::optional<double> out;
    if (lua_type(L_, -1) == LUA_TNUMBER)
      out = lua_tonumber(L_, -1);
    else if (!lua_isnil(L_, -1))
      error = what_ + "." + key + " must be a number";
    lua_pop(L_, 1);
    return out;
  }

  // A whole number in [lo, hi].
  std::optional<int64_t> integer(const char* key, int64_t lo, int64_t hi, std::string& error) {
    auto n = number(key, error);
    if (!n) return std::nullopt;
    if (*n != std::floor(*n) || *n < static_cast<double>(lo) || *n > static_cast<double>(hi)) {
      error = what_ + "." + key + " must be a whole number from " + std::to_string(lo) + " to " +
              std::to_string(hi);
      return std::nullopt;
    }
    return static_cast<int64_t>(*n);
  }

  // "5s", "250ms" or a number of seconds.
  std::optional<std::chrono::nanoseconds> duration(const char* key, std::string& error) {
    lua_getfield(L_, index_, key);
    std::optional<std::chrono::nanoseconds> out;
    if (lua_type(L_, -1) == LUA_TNUMBER) {
      out = std::chrono::nanoseconds(static_cast<int64_t>(lua_tonumber(L_, -1) * 1e9));
    } else if (lua_type(L_, -1) == LUA_TSTRING) {
      auto d = parse_duration(lua_tostring(L_, -1));
      if (d)
        out = *d;
      else
        error = what_ + "." + key + ": " + d.error().message;
    } else if (!lua_isnil(L_, -1)) {
      error = what_ + "." + key + " must be a duration such as \"5s\"";
    }
    lua_pop(L_, 1);
    return out;
  }

  std::optional<std::vector<std::string>> string_list(const char* key, std::string& error) {
    lua_getfield(L_, index_, key);
    std::optional<std::vector<std::string>> out;
    if (lua_istable(L_, -1)) {
      std::vector<std::string> items;
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L_, -1));
      for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L_, -1, i);
        if (lua_type(L_, -1) == LUA_TSTRING)
          items.emplace_back(lua_tostring(L_, -1));
        else
          error = what_ + "." + key + " must be a list of strings";
        lua_pop(L_, 1);
      }
      out = std::move(items);
    } else if (!lua_isnil(L_, -1)) {
      error = what_ + "." + key + " must be a list of strings";
    }
    lua_pop(L_, 1);
    return out;
  }

 private:
  lua_State* L_;
  int index_;
  std::string what_;
};

bool expect_table_argument(lua_State* L, const char* function, std::string& error) {
  if (lua_gettop(L) != 1 || !lua_istable(L, 1)) {
    error = std::string(function) + " takes one table: " + function + " { ... }";
    return false;
  }
  return true;
}

// scenario { name = "...", description = "...", seeds = {"000"} }
int scenario_impl(lua_State* L, Context& c, std::string& error) {
  if (!expect_table_argument(L, "scenario", error)) return 0;
  if (c.seen_scenario) return error = "scenario {} is declared twice", 0;
  c.seen_scenario = true;
  Fields f(L, 1, "scenario");
  if (!f.check_keys({"name", "description", "seeds"}, error)) return 0;
  if (auto v = f.string("name", error)) c.scenario.name = *v;
  if (auto v = f.string("description", error)) c.scenario.description = *v;
  if (auto v = f.string_list("seeds", error)) c.scenario.seeds = *v;
  return 0;
}

// topology.gateway = { memory_budget = "64MiB", rate_limit = 100, ... }, redis = true,
// proxies = { "redis", "app", "gw-1" }.
int topology_peers(lua_State* L, Fields& f, TopologySpec& t, std::string& error) {
  if (lua_getfield(L, 1, "redis"); !lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) error = "topology.redis must be true or false";
    t.redis = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  if (f.type("gateway") == LUA_TTABLE) {
    lua_getfield(L, 1, "gateway");
    Fields gw(L, -1, "topology.gateway");
    GatewaySpec& g = t.gateway;
    if (gw.check_keys({"memory_budget", "rate_limit", "burst", "rate_limit_overrides", "jwks_ttl",
                       "jwks_cooldown", "args"},
                      error)) {
      if (auto v = gw.string("memory_budget", error)) {
        auto bytes = parse_size(*v);
        if (!bytes || *bytes < (1 << 20))
          error =
              "topology.gateway.memory_budget must be a size of at least 1MiB such as \"64MiB\"";
        else
          g.memory_budget_bytes = *bytes;
      }
      if (auto v = gw.number("rate_limit", error)) {
        if (*v <= 0) error = "topology.gateway.rate_limit must be > 0 requests/s";
        g.rate_limit = *v;
      }
      if (auto v = gw.number("burst", error)) {
        if (*v < 1) error = "topology.gateway.burst must be >= 1";
        g.burst = *v;
      }
      if (auto v = gw.string_list("rate_limit_overrides", error)) g.rate_limit_overrides = *v;
      if (auto v = gw.duration("jwks_ttl", error)) {
        if (v->count() <= 0) error = "topology.gateway.jwks_ttl must be > 0";
        g.jwks_ttl = *v;
      }
      if (auto v = gw.duration("jwks_cooldown", error)) {
        if (v->count() <= 0) error = "topology.gateway.jwks_cooldown must be > 0";
        g.jwks_cooldown = *v;
      }
      if (auto v = gw.string_list("args", error)) g.args = *v;
    }
    lua_pop(L, 1);
  } else if (f.type("gateway") != LUA_TNIL) {
    return error = "topology.gateway must be a table", 0;
  }
  if (!error.empty()) return 0;
  if (auto v = f.string_list("proxies", error)) {
    std::set<std::string> seen;
    for (const auto& p : *v) {
      bool gateway = p.rfind("gw-", 0) == 0 && p.size() > 3 && p.size() < 6 &&
                     std::all_of(p.begin() + 3, p.end(), ::isdigit) &&
                     std::stoi(p.substr(3)) >= 1 && std::stoi(p.substr(3)) <= t.gateways;
      const bool peer = std::any_of(t.upstreams.begin(), t.upstreams.end(),
                                    [&](const ClusterSpec& c) { return c.name == p; }) ||
                        std::find(t.issuers.begin(), t.issuers.end(), p) != t.issuers.end();
      if (!gateway && !peer && p != "app" && p != "idp" && p != "redis")
        return error = "topology.proxies: cannot put a proxy in front of '" + p +
                       "' (app, idp, redis, gw-1..gw-" + std::to_string(t.gateways) +
                       ", an upstream cluster or an issuer)",
               0;
      if (p == "redis" && !t.redis)
        return error = "topology.proxies: 'redis' needs redis = true", 0;
      if (!seen.insert(p).second) return error = "topology.proxies: '" + p + "' is listed twice", 0;
    }
    t.proxies = *v;
  }
  if (auto v = f.string_list("identities", error)) {
    for (const auto& id : *v) {
      bool ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      });
      if (!ok)
        return error = "topology.identities: '" + id +
                       "' must be 1-64 letters, digits, '-', '_' or '.'",
               0;
      if (std::count(v->begin(), v->end(), id) > 1)
        return error = "topology.identities: '" + id + "' is listed twice", 0;
    }
    t.identities = *v;
  }
  if (lua_getfield(L, 1, "tls_resume"); !lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) error = "topology.tls_resume must be true or false";
    t.tls_resume = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return 0;
}

// topology { gateways = 1, tls = "tls", jwt = {...}, upstream = {...}, gateway_threads = 1 }
// pki = { trust_domain, svid_ttl, client_ttl, requests_per_connection } (with tls = "mtls"),
// registry = true | { poll, heartbeat_ttl }, policy = "file.rego" (read now, relative to the
// scenario's folder).
void topology_pki(lua_State* L, Fields& f, TopologySpec& t, const std::string& scenario_file,
                  std::string& error) {
  if (f.type("pki") == LUA_TTABLE) {
    if (t.tls != "mtls") return void(error = "topology.pki needs tls = \"mtls\"");
    lua_getfield(L, 1, "pki");
    Fields pki(L, -1, "topology.pki");
    if (pki.check_keys({"trust_domain", "svid_ttl", "client_ttl", "requests_per_connection"},
                       error)) {
      if (auto v = pki.string("trust_domain", error)) {
        if (v->empty() || v->find_first_of("/: ") != std::string::npos)
          error = "topology.pki.trust_domain must be a name such as \"gatedrill.test\"";
        t.pki.trust_domain = *v;
      }
      for (auto [key, field] :
           {std::pair{"svid_ttl", &t.pki.svid_ttl}, std::pair{"client_ttl", &t.pki.client_ttl}}) {
        if (auto v = pki.duration(key, error)) {
          if (*v < std::chrono::seconds(2))
            error = std::string("topology.pki.") + key + " must be at least 2s";
          *field = *v;
        }
      }
      if (auto v = pki.integer("requests_per_connection", 0, 1000000, error))
        t.pki.requests_per_connection = static_cast<int>(*v);
    }
    lua_pop(L, 1);
  } else if (f.type("pki") != LUA_TNIL) {
    return void(error = "topology.pki must be a table");
  }
  if (!error.empty()) return;
  if (f.type("registry") == LUA_TBOOLEAN) {
    lua_getfield(L, 1, "registry");
    t.registry.enabled = lua_toboolean(L, -1);
    lua_pop(L, 1);
  } else if (f.type("registry") == LUA_TTABLE) {
    t.registry.enabled = true;
    lua_getfield(L, 1, "registry");
    Fields reg(L, -1, "topology.registry");
    if (reg.check_keys(
            {"poll", "heartbeat_ttl", "discovery", "jitter", "services", "publish_routes"},
            error)) {
      if (auto v = reg.string_list("services", error)) {
        for (const auto& name : *v) {
          bool ok = !name.empty() && name.size() <= 32 && name != "app" &&
                    std::all_of(name.begin(), name.end(), [](char ch) {
                      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
                    });
          if (!ok || std::count(v->begin(), v->end(), name) > 1)
            error = "topology.registry.services: '" + name +
                    "' must be 1-32 lowercase letters, digits or '-', not app, listed once";
        }
        t.registry.services = *v;
      }
      for (auto [key, field] :
           {std::pair{"discovery", &t.registry.discovery}, std::pair{"jitter", &t.registry.jitter},
            std::pair{"publish_routes", &t.registry.publish_routes}}) {
        if (reg.type(key) == LUA_TBOOLEAN) {
          lua_getfield(L, -1, key);
          *field = lua_toboolean(L, -1);
          lua_pop(L, 1);
        } else if (reg.type(key) != LUA_TNIL) {
          error = std::string("topology.registry.") + key + " must be true or false";
        }
      }
      if (auto v = reg.duration("poll", error)) {
        if (*v < std::chrono::milliseconds(50))
          error = "topology.registry.poll must be at least 50ms";
        t.registry.poll = *v;
      }
      if (auto v = reg.duration("heartbeat_ttl", error)) {
        if (*v < std::chrono::milliseconds(200))
          error = "topology.registry.heartbeat_ttl must be at least 200ms";
        t.registry.heartbeat_ttl = *v;
      }
    }
    lua_pop(L, 1);
  } else if (f.type("registry") != LUA_TNIL) {
    return void(error = "topology.registry must be true, false or a table { poll = \"1s\" }");
  }
  if (!error.empty()) return;
  if (auto v = f.string("policy", error)) {
    auto text = read_scenario_file(scenario_file, *v);
    if (!text) return void(error = "topology.policy: " + text.error().message);
    t.registry.policy_file = *v;
    t.registry.policy_path = resolve_scenario_path(scenario_file, *v);
    t.registry.policy_text = std::move(*text);
  }
  if (!t.registry.services.empty() && !t.registry.discovery)
    return void(error = "topology.registry.services needs discovery = true");
  if (t.registry.publish_routes && !t.registry.discovery)
    return void(error = "topology.registry.publish_routes needs discovery = true");
  if (t.registry.enabled && t.registry.policy_text.empty())
    error = "topology.registry needs policy = \"file.rego\" (the bundle it publishes first)";
}

// latency, body, status, threads of topology.upstream or one of topology.upstreams.
void upstream_fields(Fields& up, const std::string& what, UpstreamSpec& u, std::string& error) {
  if (auto v = up.duration("latency", error)) {
    if (v->count() < 0) error = what + ".latency must be >= 0";
    u.latency = *v;
  }
  if (auto v = up.integer("body", 0, 64 << 20, error)) u.body_bytes = *v;
  if (auto v = up.integer("status", 100, 599, error)) u.status = static_cast<int>(*v);
  if (auto v = up.integer("threads", 1, 64, error)) u.threads = static_cast<int>(*v);
}

// A node name a scenario gives a peer of its own (an upstream cluster, an issuer): 1-32
// lowercase letters, digits or '-', and none of the topology's fixed node names.
bool peer_name_ok(const std::string& name) {
  static const std::set<std::string> kFixed = {"app",      "idp",  "redis",   "proxy", "ca",
                                               "registry", "load", "default", "token"};
  return !name.empty() && name.size() <= 32 && !kFixed.count(name) && name.rfind("gw-", 0) != 0 &&
         std::all_of(name.begin(), name.end(), [](char ch) {
           return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
         });
}
const char* kPeerNameRule =
    "must be 1-32 lowercase letters, digits or '-', and not app, idp, redis, proxy, ca, "
    "registry, load, default, token or gw-N";

// upstreams = { orders = { latency = "1ms", max_requests = 8, ... } },
// routes = { ["/api/orders"] = "orders" }: each cluster its own upstream peer, each route a
// prefix on the gateways going to a cluster ("app": the default one).
void topology_clusters(lua_State* L, Fields& f, TopologySpec& t, std::string& error) {
  if (f.type("upstreams") == LUA_TTABLE) {
    lua_getfield(L, 1, "upstreams");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (error.empty()) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1)) {
          error = "topology.upstreams: entries are name = { latency = \"1ms\", ... }";
        } else {
          ClusterSpec c;
          c.name = lua_tostring(L, -2);
          const std::string what = "topology.upstreams." + c.name;
          Fields up(L, -1, what);
          if (!peer_name_ok(c.name)) {
            error = "topology.upstreams: '" + c.name + "' " + kPeerNameRule;
          } else if (up.check_keys({"latency", "body", "status", "threads", "max_requests",
                                    "max_connections", "max_pending", "breaker_failures", "timeout",
                                    "connect_timeout", "breaker_open_for"},
                                   error)) {
            upstream_fields(up, what, c.upstream, error);
            for (auto [key, field] : {std::pair{"max_requests", &c.max_requests},
                                      std::pair{"max_connections", &c.max_connections},
                                      std::pair{"max_pending", &c.max_pending},
                                      std::pair{"breaker_failures", &c.breaker_failures}})
              if (auto v = up.integer(key, 1, 100000, error)) *field = static_cast<int>(*v);
            for (auto [key, field] : {std::pair{"timeout", &c.timeout},
                                      std::pair{"connect_timeout", &c.connect_timeout},
                                      std::pair{"breaker_open_for", &c.breaker_open_for}})
              if (auto v = up.duration(key, error)) {
                if (*v < std::chrono::milliseconds(1)) error = what + "." + key + " must be >= 1ms";
                *field = *v;
              }
          }
          t.upstreams.push_back(std::move(c));
        }
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (error.empty() && t.upstreams.empty())
      error = "topology.upstreams must name at least one cluster: { orders = { ... } }";
  } else if (f.type("upstreams") != LUA_TNIL) {
    return void(error =
                    "topology.upstreams must be a table such as { orders = { latency = "
                    "\"1ms\" } }");
  }
  if (!error.empty()) return;
  // Lua walks string keys in no fixed order; sort so nodes, streams and files are stable.
  std::sort(t.upstreams.begin(), t.upstreams.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  if (f.type("routes") == LUA_TTABLE) {
    if (t.upstreams.empty())
      return void(error = "topology.routes needs topology.upstreams (the clusters it routes to)");
    lua_getfield(L, 1, "routes");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (error.empty()) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
          error = "topology.routes: entries are [\"/path\"] = \"cluster\"";
        } else {
          RouteSpec r{lua_tostring(L, -2), lua_tostring(L, -1)};
          if (r.prefix.empty() || r.prefix[0] != '/')
            error = "topology.routes: '" + r.prefix + "' must start with /";
          else if (r.cluster != "app" &&
                   !std::any_of(t.upstreams.begin(), t.upstreams.end(),
                                [&](const auto& c) { return c.name == r.cluster; }))
            error = "topology.routes[\"" + r.prefix + "\"]: unknown cluster '" + r.cluster +
                    "' (not in topology.upstreams, nor app)";
          t.routes.push_back(std::move(r));
        }
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else if (f.type("routes") != LUA_TNIL) {
    return void(error =
                    "topology.routes must be a table such as { [\"/api/orders\"] = \"orders\" }");
  }
  if (!error.empty()) return;
  std::sort(t.routes.begin(), t.routes.end(),
            [](const auto& a, const auto& b) { return a.prefix < b.prefix; });
  for (const auto& c : t.upstreams)
    if (std::none_of(t.routes.begin(), t.routes.end(),
                     [&](const auto& r) { return r.cluster == c.name; }))
      return void(error = "topology.upstreams." + c.name +
                          " has no route: add topology.routes = { [\"/path\"] = \"" + c.name +
                          "\" }");
}

// jwt.issuers (the table on top of the stack) = { "tenant-a", ["tenant-b"] = { idp_alg =
// "ES256", algs = { "ES256" }, leeway = "0s" } }: names in list order, then the named ones by name.
void jwt_issuers(lua_State* L, TopologySpec& t, std::string& error) {
  const std::set<std::string> known{"RS256", "PS256", "ES256", "EdDSA"};
  std::vector<std::string> listed, named;
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    if (lua_type(L, -1) == LUA_TSTRING)
      listed.emplace_back(lua_tostring(L, -1));
    else if (error.empty())
      error = "topology.jwt.issuers: list entries are names such as \"tenant-a\"";
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && error.empty()) {
      std::string name = lua_tostring(L, -2);
      const std::string what = "topology.jwt.issuers." + name;
      if (!lua_istable(L, -1)) {
        error = what + " must be a table { idp_alg = ..., algs = {...}, leeway = ... }";
      } else {
        Fields f(L, -1, what);
        IssuerSettings settings;
        if (f.check_keys({"idp_alg", "algs", "leeway"}, error)) {
          if (auto v = f.string("idp_alg", error)) {
            if (!known.count(*v)) error = what + ".idp_alg: unknown alg '" + *v + "'";
            settings.idp_alg = *v;
          }
          if (auto v = f.string_list("algs", error)) {
            for (const auto& a : *v)
              if (!known.count(a)) error = what + ".algs: unknown alg '" + a + "'";
            if (v->empty()) error = what + ".algs must not be empty";
            settings.algs = *v;
          }
          if (auto v = f.duration("leeway", error)) {
            if (v->count() < 0) error = what + ".leeway must be >= 0";
            settings.leeway = *v;
          }
        }
        named.push_back(name);
        t.issuer_settings[name] = std::move(settings);
      }
    } else if (lua_type(L, -2) != LUA_TNUMBER && error.empty()) {
      error = "topology.jwt.issuers: keys are issuer names";
    }
    lua_pop(L, 1);
  }
  if (!error.empty()) return;
  std::sort(named.begin(), named.end());
  listed.insert(listed.end(), named.begin(), named.end());
  for (const auto& name : listed) {
    if (!peer_name_ok(name))
      return void(error = "topology.jwt.issuers: '" + name + "' " + kPeerNameRule);
    if (std::count(listed.begin(), listed.end(), name) > 1)
      return void(error = "topology.jwt.issuers: '" + name + "' is listed twice");
  }
  if (listed.empty()) error = "topology.jwt.issuers must not be empty (leave it out instead)";
  t.issuers = std::move(listed);
}

// Upstream clusters, issuers, identities and registry services share one namespace: each is a
// stream "<name>@gw-N", and clusters and issuers are nodes.
void check_peer_names(const TopologySpec& t, std::string& error) {
  std::map<std::string, std::string> seen;  // name -> where it was declared
  auto add = [&](const std::string& name, const std::string& where) {
    if (!error.empty()) return;
    auto [it, fresh] = seen.emplace(name, where);
    if (!fresh)
      error = "'" + name + "' is declared twice (" + it->second + " and " + where +
              "): upstream clusters, issuers, identities and services need distinct names";
  };
  for (const auto& c : t.upstreams) add(c.name, "topology.upstreams");
  for (const auto& i : t.issuers) add(i, "topology.jwt.issuers");
  for (const auto& i : t.identities) add(i, "topology.identities");
  for (const auto& s : t.registry.services) add(s, "topology.registry.services");
}

int topology_impl(lua_State* L, Context& c, std::string& error) {
  if (!expect_table_argument(L, "topology", error)) return 0;
  if (c.seen_topology) return error = "topology {} is declared twice", 0;
  c.seen_topology = true;
  TopologySpec& t = c.scenario.topology;
  Fields f(L, 1, "topology");
  if (!f.check_keys({"gateways", "tls", "jwt", "upstream", "gateway_threads", "path", "gateway",
                     "redis", "proxies", "identities", "tls_resume", "pki", "registry", "policy",
                     "token_client", "upstreams", "routes"},
                    error))
    return 0;
  if (auto v = f.string("path", error)) {
    if (v->empty() || (*v)[0] != '/') return error = "topology.path must start with /", 0;
    t.path = *v;
  }
  if (auto v = f.integer("gateways", 1, 16, error)) t.gateways = static_cast<int>(*v);
  if (auto v = f.integer("gateway_threads", 1, 64, error)) t.gateway_threads = static_cast<int>(*v);
  if (auto v = f.integer("token_client", 1, 1000, error)) t.token_client = static_cast<int>(*v);
  if (auto v = f.string("tls", error)) {
    if (*v != "plain" && *v != "tls" && *v != "mtls")
      return error = "topology.tls must be \"plain\", \"tls\" or \"mtls\"", 0;
    t.tls = *v;
  }
  if (!error.empty()) return 0;
  if (topology_pki(L, f, t, c.scenario.file, error); !error.empty()) return 0;
  if (f.type("jwt") == LUA_TTABLE) {
    lua_getfield(L, 1, "jwt");
    Fields jwt(L, -1, "topology.jwt");
    if (jwt.check_keys({"leeway", "algs", "idp_alg", "token_ttl", "issuers"}, error)) {
      if (jwt.type("issuers") == LUA_TTABLE) {
        lua_getfield(L, -1, "issuers");
        jwt_issuers(L, t, error);
        lua_pop(L, 1);
      } else if (jwt.type("issuers") != LUA_TNIL) {
        error = "topology.jwt.issuers must be a list such as { \"tenant-a\", \"tenant-b\" }";
      }
      if (auto v = jwt.duration("token_ttl", error)) {
        if (v->count() < std::chrono::nanoseconds(std::chrono::seconds(10)).count())
          error = "topology.jwt.token_ttl must be at least 10s";
        t.token_ttl = *v;
      }
      if (auto v = jwt.duration("leeway", error)) {
        if (v->count() < 0) error = "topology.jwt.leeway must be >= 0";
        t.leeway = *v;
      }
      const std::set<std::string> known{"RS256", "PS256", "ES256", "EdDSA"};
      if (auto v = jwt.string_list("algs", error)) {
        for (const auto& a : *v)
          if (!known.count(a))
            error = "topology.jwt.algs: unknown alg '" + a + "' (RS256, PS256, ES256, EdDSA)";
        if (v->empty()) error = "topology.jwt.algs must not be empty";
        t.algs = *v;
      }
      if (auto v = jwt.string("idp_alg", error)) {
        if (!known.count(*v)) error = "topology.jwt.idp_alg: unknown alg '" + *v + "'";
        t.idp_alg = *v;
      }
    }
    lua_pop(L, 1);
  } else if (f.type("jwt") != LUA_TNIL) {
    return error = "topology.jwt must be a table", 0;
  }
  if (!error.empty()) return 0;
  if (f.type("upstream") == LUA_TTABLE) {
    lua_getfield(L, 1, "upstream");
    Fields up(L, -1, "topology.upstream");
    if (up.check_keys({"latency", "body", "status", "threads"}, error))
      upstream_fields(up, "topology.upstream", t.upstream, error);
    lua_pop(L, 1);
  } else if (f.type("upstream") != LUA_TNIL) {
    return error = "topology.upstream must be a table", 0;
  }
  if (!error.empty()) return 0;
  // Clusters first: proxies may name them.
  if (topology_clusters(L, f, t, error); !error.empty()) return 0;
  if (topology_peers(L, f, t, error); !error.empty()) return 0;
  return check_peer_names(t, error), 0;
}

// load { { name = "steady", rate = 2000, duration = "10s", tokens = 100 }, ... }
int load_impl(lua_State* L, Context& c, std::string& error) {
  if (!expect_table_argument(L, "load", error)) return 0;
  if (c.seen_load) return error = "load {} is declared twice", 0;
  c.seen_load = true;
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 1));
  if (n == 0)
    return error =
               "load {} needs at least one phase: { name = \"steady\", rate = 1000, duration = "
               "\"10s\" }",
           0;
  std::set<std::string> names;
  for (lua_Integer i = 1; i <= n && error.empty(); ++i) {
    lua_rawgeti(L, 1, i);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      return error = "load: phase " + std::to_string(i) + " must be a table", 0;
    }
    PhaseSpec p;
    p.where = where(L);
    std::string what = "load[" + std::to_string(i) + "]";
    Fields f(L, -1, what);
    if (f.check_keys({"name", "rate", "rate_to", "duration", "connections", "tokens",
                      "fresh_tokens", "body", "identities", "streams"},
                     error)) {
      if (f.type("body") == LUA_TNUMBER) {
        if (auto v = f.integer("body", 0, 64 << 20, error)) p.body_bytes = *v;
      } else if (auto v = f.string("body", error)) {
        auto bytes = parse_size(*v);
        if (!bytes || *bytes > (64 << 20))
          error = what + ".body must be a size up to 64MiB such as \"16KiB\"";
        else
          p.body_bytes = *bytes;
      }
      // identities = { hot = 300 }, streams = { billing = 200 }: requests/s by name.
      for (auto [key, rates, entry, example] :
           {std::tuple{"identities", &p.identity_rates, "identity", "{ hot = 300 }"},
            std::tuple{"streams", &p.stream_rates, "stream", "{ billing = 200 }"}}) {
        if (lua_getfield(L, -1, key); lua_istable(L, -1)) {
          lua_pushnil(L);
          while (lua_next(L, -2) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER ||
                lua_tonumber(L, -1) <= 0 || lua_tonumber(L, -1) > 5e6) {
              if (error.empty())
                error = what + "." + key + ": entries are " + entry + " = requests/s (> 0), e.g. " +
                        example;
            } else {
              (*rates)[lua_tostring(L, -2)] = lua_tonumber(L, -1);
            }
            lua_pop(L, 1);
          }
        } else if (!lua_isnil(L, -1)) {
          error = what + "." + key + " must be a table such as " + example;
        }
        lua_pop(L, 1);
      }
      if (lua_getfield(L, -1, "fresh_tokens"); !lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1)) error = what + ".fresh_tokens must be true or false";
        p.fresh_tokens = lua_toboolean(L, -1);
      }
      lua_pop(L, 1);
      p.name = f.string("name", error).value_or("phase" + std::to_string(i));
      if (f.type("rate") == LUA_TSTRING) {
        if (f.string("rate", error) != "max") error = what + ".rate must be a number or \"max\"";
        p.rate = 0;
      } else if (auto r = f.number("rate", error)) {
        if (*r <= 0 || *r > 5e6)
          error = what + ".rate must be between 1 and 5000000 requests/s (or \"max\")";
        p.rate = *r;
      } else if (error.empty()) {
        error = what + " needs rate = N (requests/s) or \"max\"";
      }
      if (auto r = f.number("rate_to", error)) {
        if (*r <= 0 || *r > 5e6) error = what + ".rate_to must be between 1 and 5000000";
        if (p.rate == 0) error = what + ": a ramp (rate_to) needs a numeric rate";
        p.rate_to = *r;
      }
      if (auto d = f.duration("duration", error)) p.duration = *d;
      if (error.empty() && p.duration.count() <= 0)
        error = what + " needs duration > 0, e.g. \"10s\"";
      if (auto v = f.integer("connections", 1, 18000, error)) p.connections = static_cast<int>(*v);
      if (auto v = f.integer("tokens", 1, 100000, error)) p.tokens = static_cast<int>(*v);
      if (error.empty() && !names.insert(p.name).second)
        error = what + ": phase name '" + p.name + "' is used twice";
    }
    lua_pop(L, 1);
    c.scenario.phases.push_back(std::move(p));
  }
  return 0;
}

// at("15s", function() fault.clock_skew { ... } end)
int at_impl(lua_State* L, Context& c, std::string& error) {
  if (lua_gettop(L) != 2 || !lua_isfunction(L, 2))
    return error = "at takes a time and a function: at(\"15s\", function() ... end)", 0;
  TimelineEntry e;
  e.where = where(L);
  if (lua_type(L, 1) == LUA_TNUMBER) {
    e.at = std::chrono::nanoseconds(static_cast<int64_t>(lua_tonumber(L, 1) * 1e9));
  } else if (lua_type(L, 1) == LUA_TSTRING) {
    auto d = parse_duration(lua_tostring(L, 1));
    if (!d) return error = "at: " + d.error().message, 0;
    e.at = *d;
  } else {
    return error = "at: the time must be a duration such as \"15s\"", 0;
  }
  if (e.at.count() < 0) return error = "at: the time must be >= 0", 0;
  lua_pushvalue(L, 2);
  e.lua_function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c.scenario.timeline.push_back(std::move(e));
  return 0;
}

// fault.<type> { node = "gw-1", duration = "5s", <params> }: the upvalue names the type.
int fault_impl(lua_State* L, Context& c, std::string& error) {
  std::string type = lua_tostring(L, lua_upvalueindex(1));
  if (!c.recording && !c.sink)
    return error = "fault." + type + " can only be called inside an at(...) callback", 0;
  if (lua_gettop(L) > 1 || (lua_gettop(L) == 1 && !lua_istable(L, 1)))
    return error =
               "fault." + type + " takes one table: fault." + type + " { node = \"gw-1\", ... }",
           0;
  FaultAction action;
  action.type = type;
  action.where = where(L);
  if (lua_gettop(L) == 1) {
    lua_pushnil(L);
    while (error.empty() && lua_next(L, 1) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        error = "fault." + type + ": keys must be names";
      } else {
        std::string key = lua_tostring(L, -2);
        int vt = lua_type(L, -1);
        if (vt == LUA_TTABLE && key != "node" && key != "duration") {
          // A list such as nodes = {"gw-2", "gw-3"}: kept joined by commas.
          std::string joined;
          lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
          for (lua_Integer i = 1; i <= n && error.empty(); ++i) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING ||
                std::string(lua_tostring(L, -1)).find(',') != std::string::npos)
              error = "fault." + type + "." + key + " must be a list of names such as {\"gw-2\"}";
            else
              joined += (i > 1 ? "," : "") + std::string(lua_tostring(L, -1));
            lua_pop(L, 1);
          }
          if (error.empty() && n == 0) error = "fault." + type + "." + key + " must not be empty";
          action.params[key] = joined;
        } else if (vt != LUA_TSTRING && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN) {
          error = "fault." + type + "." + key + " must be a string or a number";
        } else if (key == "node") {
          if (vt != LUA_TSTRING)
            error = "fault." + type + ".node must be a string";
          else
            action.node = lua_tostring(L, -1);
        } else if (key == "duration") {
          lua_pushvalue(L, -1);  // tostring on a copy: never on the key lua_next walks
          auto d = parse_duration(lua_tostring(L, -1));
          lua_pop(L, 1);
          if (!d)
            error = "fault." + type + ".duration: " + d.error().message;
          else
            action.duration = *d;
        } else {
          lua_pushvalue(L, -1);
          action.params[key] =
              vt == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false") : lua_tostring(L, -1);
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
    if (!error.empty()) {
      lua_pop(L, 1);  // the key lua_next left
      return 0;
    }
  }
  if (auto valid = validate_fault(c.scenario, action); !valid)
    return error = valid.error().message, 0;
  if (c.recording) {
    c.recording->push_back(std::move(action));
  } else if (auto applied = c.sink->apply(action); !applied) {
    error = "fault." + type + " on " + action.node + " failed: " + applied.error().message;
  }
  return 0;
}

// thresholds { ["steady.p99"] = "< 10ms", ["error_rate"] = { "< 1%", abort_on_fail = true } }
int thresholds_impl(lua_State* L, Context& c, std::string& error) {
  if (!expect_table_argument(L, "thresholds", error)) return 0;
  std::string at = where(L);
  std::vector<ThresholdSpec> parsed;
  lua_pushnil(L);
  while (error.empty() && lua_next(L, 1) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      error = "thresholds: keys are metric names such as [\"steady.p99\"]";
    } else {
      std::string subject = lua_tostring(L, -2);
      std::vector<std::string> conditions;
      bool abort_on_fail = false;
      std::chrono::nanoseconds abort_delay{0};
      if (lua_type(L, -1) == LUA_TSTRING) {
        conditions.emplace_back(lua_tostring(L, -1));
      } else if (lua_istable(L, -1)) {
        Fields f(L, -1, "thresholds[\"" + subject + "\"]");
        if (f.check_keys({"abort_on_fail", "delay"}, error, true)) {
          lua_getfield(L, -1, "abort_on_fail");
          if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            error = "abort_on_fail must be true or false";
          abort_on_fail = lua_toboolean(L, -1);
          lua_pop(L, 1);
          if (auto d = f.duration("delay", error)) {
            if (d->count() < 0)
              error = "thresholds[\"" + subject + "\"].delay must be >= 0";
            else if (!abort_on_fail)
              error = "thresholds[\"" + subject + "\"].delay needs abort_on_fail = true";
            abort_delay = *d;
          }
          lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
          for (lua_Integer i = 1; i <= n; ++i) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) == LUA_TSTRING)
              conditions.emplace_back(lua_tostring(L, -1));
            else
              error = "thresholds[\"" + subject + "\"]: conditions are strings such as \"< 10ms\"";
            lua_pop(L, 1);
          }
        }
      } else {
        error = "thresholds[\"" + subject + "\"] must be a condition such as \"< 10ms\"";
      }
      for (const auto& cond : conditions) {
        auto t = parse_threshold(subject, cond);
        if (!t) {
          error = "thresholds: " + t.error().message;
          break;
        }
        t->abort_on_fail = abort_on_fail;
        t->abort_delay = abort_delay;
        t->where = at;
        parsed.push_back(std::move(*t));
      }
    }
    lua_pop(L, 1);
  }
  if (!error.empty()) {
    if (lua_gettop(L) > 1) lua_settop(L, 1);
    return 0;
  }
  // Lua walks string keys in no fixed order; sort so output and storage are stable.
  std::sort(parsed.begin(), parsed.end(),
            [](const auto& a, const auto& b) { return a.text < b.text; });
  for (auto& t : parsed) c.scenario.thresholds.push_back(std::move(t));
  return 0;
}

// during("clock_skew", { node = "gw-1", status_401_share = "> 95%" }) -> a handle for expect{}
// after("clock_skew", { node = "gw-1", recovered_within = "2s" })
int expectation(lua_State* L, Context& c, std::string& error, ExpectSpec::When when) {
  const char* fn = when == ExpectSpec::When::kDuring ? "during" : "after";
  if (lua_gettop(L) != 2 || lua_type(L, 1) != LUA_TSTRING || !lua_istable(L, 2))
    return error = std::string(fn) + " takes a fault name and a table: " + fn +
                   "(\"clock_skew\", { ... })",
           0;
  ExpectSpec e;
  e.when = when;
  e.fault = lua_tostring(L, 1);
  e.where = where(L);
  if (!find_fault_type(e.fault))
    return error = std::string(fn) + ": unknown fault '" + e.fault + "'", 0;
  std::vector<std::pair<std::string, std::string>> entries;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      if (error.empty()) error = std::string(fn) + ": entries are name = \"condition\" strings";
    } else {
      entries.emplace_back(lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
  if (!error.empty()) return 0;
  std::sort(entries.begin(), entries.end());
  for (const auto& [key, value] : entries) {
    if (key == "node") {
      e.node = value;
    } else if (key == "recovered_within") {
      if (when != ExpectSpec::When::kAfter)
        return error = "recovered_within belongs in after(...)", 0;
      auto d = parse_duration(value);
      if (!d || d->count() <= 0)
        return error = "after: recovered_within must be a duration > 0 such as \"2s\"", 0;
      e.recovered_within = *d;
    } else {
      auto t = parse_condition(key, value);
      if (!t) return error = std::string(fn) + ": " + t.error().message, 0;
      // after() judges what follows the window: the recovery, and the registry's refetch burst.
      if ((when == ExpectSpec::When::kAfter) != (t->metric == "refetch_burst"))
        return error = when == ExpectSpec::When::kAfter
                           ? "after(...) takes recovered_within and refetch_burst, not " + key
                           : "refetch_burst belongs in after(...)",
               0;
      t->where = e.where;
      e.conditions.push_back(std::move(*t));
    }
  }
  if (!e.node.empty() && node_kind(c.scenario, e.node).empty() && !c.scenario.is_stream(e.node))
    return error = std::string(fn) + ": unknown node '" + e.node + "'", 0;
  if (e.conditions.empty() && !e.recovered_within)
    return error = std::string(fn) + " needs at least one condition", 0;
  e.text = std::string(fn) + "(" + e.fault + (e.node.empty() ? "" : ", " + e.node) + ")";
  for (const auto& t : e.conditions) e.text += " " + t.text;
  if (e.recovered_within) e.text += " recovered_within " + format_duration(*e.recovered_within);
  c.pending_expects.push_back(std::move(e));
  lua_pushinteger(L, static_cast<lua_Integer>(c.pending_expects.size()));
  return 1;
}
int during_impl(lua_State* L, Context& c, std::string& error) {
  return expectation(L, c, error, ExpectSpec::When::kDuring);
}
int after_impl(lua_State* L, Context& c, std::string& error) {
  return expectation(L, c, error, ExpectSpec::When::kAfter);
}

// expect { during(...), after(...) }
int expect_impl(lua_State* L, Context& c, std::string& error) {
  if (!expect_table_argument(L, "expect", error)) return 0;
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, 1, i);
    lua_Integer handle = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    if (handle < 1 || handle > static_cast<lua_Integer>(c.pending_expects.size()))
      return error = "expect { } takes during(...) and after(...) entries", 0;
    c.scenario.expectations.push_back(c.pending_expects[static_cast<size_t>(handle - 1)]);
  }
  return 0;
}

// param("RATE", 2000): the -e RATE=... value, converted to the default's type.
int param_impl(lua_State* L, Context& c, std::string& error) {
  if (lua_gettop(L) != 2 || lua_type(L, 1) != LUA_TSTRING)
    return error = "param takes a name and a default: param(\"RATE\", 2000)", 0;
  std::string name = lua_tostring(L, 1);
  c.used_params.insert(name);
  auto it = c.scenario.params.find(name);
  if (it == c.scenario.params.end()) {
    lua_pushvalue(L, 2);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    char* end = nullptr;
    double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0')
      return error = "parameter " + name + "=" + it->second + " must be a number", 0;
    lua_pushnumber(L, v);
    if (v == std::floor(v) && std::fabs(v) < 9e15) {
      lua_pop(L, 1);
      lua_pushinteger(L, static_cast<lua_Integer>(v));
    }
    return 1;
  }
  lua_pushlstring(L, it->second.data(), it->second.size());
  return 1;
}

// pick(long, short): the first value, or the second when the run is in short mode (-e SHORT=1,
// what `gatedrill drills run --short` passes), so every drill states both lengths in one place.
int pick_impl(lua_State* L, Context& c, std::string& error) {
  if (lua_gettop(L) != 2)
    return error = "pick takes the normal and the short value: pick(30, 5)", 0;
  c.used_params.insert("SHORT");
  auto it = c.scenario.params.find("SHORT");
  const std::string mode = it == c.scenario.params.end() ? "0" : it->second;
  if (mode != "0" && mode != "1") return error = "parameter SHORT=" + mode + " must be 0 or 1", 0;
  lua_pushvalue(L, mode == "1" ? 2 : 1);
  return 1;
}

int print_impl(lua_State* L, Context&, std::string&) {
  std::string line;
  for (int i = 1; i <= lua_gettop(L); ++i) {
    size_t len = 0;
    const char* s = luaL_tolstring(L, i, &len);
    line += (i > 1 ? "\t" : "") + std::string(s, len);
    lua_pop(L, 1);
  }
  std::fprintf(stderr, "[scenario] %s\n", line.c_str());
  return 0;
}

void register_api(lua_State* L) {
  const luaL_Reg globals[] = {{"scenario", api<scenario_impl>},
                              {"topology", api<topology_impl>},
                              {"load", api<load_impl>},
                              {"at", api<at_impl>},
                              {"thresholds", api<thresholds_impl>},
                              {"expect", api<expect_impl>},
                              {"during", api<during_impl>},
                              {"after", api<after_impl>},
                              {"param", api<param_impl>},
                              {"pick", api<pick_impl>},
                              {"print", api<print_impl>}};
  for (const auto& g : globals) {
    lua_pushcfunction(L, g.func);
    lua_setglobal(L, g.name);
  }
  lua_newtable(L);
  for (const auto& type : fault_catalog()) {
    lua_pushstring(L, type.name.c_str());
    lua_pushcclosure(L, api<fault_impl>, 1);
    lua_setfield(L, -2, type.name.c_str());
  }
  lua_setglobal(L, "fault");
}

// Checks that need the whole script: references between sections, times inside the run.
Result<void> validate_whole(Context& c) {
  Scenario& s = c.scenario;
  auto fail = [&](const std::string& where, const std::string& message) {
    return make_error("scenario", where + ": " + message);
  };
  if (!c.seen_load || s.phases.empty()) return fail(s.file, "no load { ... } phases declared");
  for (const auto& [name, value] : s.params)
    if (!c.used_params.count(name))
      return fail(s.file, "parameter " + name + " is not used by this scenario (no param(\"" +
                              name + "\", ...))");
  auto total = s.total_duration();
  std::set<std::string> fault_types;
  for (const auto& e : s.timeline) {
    if (e.at >= total)
      return fail(e.where, "at(" + format_duration(e.at) + ") is after the load ends (" +
                               format_duration(total) + ")");
    for (const auto& a : e.actions) fault_types.insert(a.type);
  }
  for (const auto& p : s.phases)
    for (const auto& [id, rate] : p.identity_rates)
      if (std::find(s.topology.identities.begin(), s.topology.identities.end(), id) ==
          s.topology.identities.end())
        return fail(p.where,
                    "phase " + p.name + ": identity '" + id + "' is not in topology.identities");
  for (const auto& p : s.phases)
    for (const auto& [name, rate] : p.stream_rates) {
      const auto& t = s.topology;
      const bool known = s.cluster(name) ||
                         std::find(t.issuers.begin(), t.issuers.end(), name) != t.issuers.end() ||
                         std::find(t.registry.services.begin(), t.registry.services.end(), name) !=
                             t.registry.services.end();
      if (!known)
        return fail(p.where, "phase " + p.name + ": stream '" + name +
                                 "' is not an upstream cluster, issuer or registry service of "
                                 "the topology");
    }
  for (const auto& t : s.thresholds) {
    if (!t.phase.empty() && std::none_of(s.phases.begin(), s.phases.end(),
                                         [&](const auto& p) { return p.name == t.phase; }))
      return fail(t.where, "threshold '" + t.text + "': no phase named '" + t.phase + "'");
    if (!t.node.empty() && node_kind(s, t.node) != "gateway" && !s.is_stream(t.node))
      return fail(t.where, "threshold '" + t.text + "': node must be a gateway (gw-1..gw-" +
                               std::to_string(s.topology.gateways) +
                               "), an identity's stream (hot@gw-1) (or a service's, upstream "
                               "cluster's or issuer's alike) or token@idp (token_client)");
  }
  for (const auto& e : s.expectations)
    if (!fault_types.count(e.fault))
      return fail(e.where, e.text + ": the timeline never injects '" + e.fault + "'");
  return {};
}

}  // namespace

std::chrono::nanoseconds Scenario::total_duration() const {
  std::chrono::nanoseconds total{0};
  for (const auto& p : phases) total += p.duration;
  return total;
}

std::vector<std::string> Scenario::node_names() const {
  std::vector<std::string> names;
  for (int i = 1; i <= topology.gateways; ++i) names.push_back("gw-" + std::to_string(i));
  names.emplace_back("idp");
  names.emplace_back("app");
  for (const auto& c : topology.upstreams) names.push_back(c.name);
  for (const auto& i : topology.issuers) names.push_back(i);
  if (topology.redis) names.emplace_back("redis");
  if (!topology.proxies.empty()) names.emplace_back("proxy");
  return names;
}

const ClusterSpec* Scenario::cluster(const std::string& name) const {
  for (const auto& c : topology.upstreams)
    if (c.name == name) return &c;
  return nullptr;
}

std::string Scenario::first_route(const std::string& cluster) const {
  for (const auto& r : topology.routes)  // sorted by prefix
    if (r.cluster == cluster) return r.prefix;
  return {};
}

bool Scenario::is_stream(const std::string& node) const {
  if (node == kTokenClientStream) return topology.token_client > 0;
  auto at = node.find('@');
  if (at == std::string::npos) return false;
  const std::string name = node.substr(0, at);
  const auto& ids = topology.identities;
  const auto& services = topology.registry.services;
  const auto& issuers = topology.issuers;
  return (std::find(ids.begin(), ids.end(), name) != ids.end() ||
          std::find(services.begin(), services.end(), name) != services.end() ||
          std::find(issuers.begin(), issuers.end(), name) != issuers.end() || cluster(name)) &&
         node_kind(*this, node.substr(at + 1)) == "gateway";
}

ScenarioScript::ScenarioScript()
    : lua_(std::make_unique<LuaState>()), context_(std::make_unique<Context>()) {}
ScenarioScript::~ScenarioScript() = default;

const Scenario& ScenarioScript::scenario() const {
  return context_->scenario;
}

Result<std::unique_ptr<ScenarioScript>> ScenarioScript::load(
    const std::string& path, std::map<std::string, std::string> params) {
  std::unique_ptr<ScenarioScript> script(new ScenarioScript());
  Context& c = *script->context_;
  c.scenario.file = path;
  c.scenario.params = std::move(params);
  lua_State* L = script->lua_->get();
  lua_pushlightuserdata(L, &c);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kContextKey);
  register_api(L);

  if (auto ran = script->lua_->run_file(path, path); !ran) return ran.error();
  if (c.scenario.name.empty()) {
    std::string base = path.substr(path.find_last_of('/') + 1);
    c.scenario.name = base.substr(0, base.rfind(".lua"));
  }
  // Dry run of every timeline callback: its fault calls are validated and recorded now, so a
  // mistake in minute 9 of a drill is reported before anything starts.
  std::sort(c.scenario.timeline.begin(), c.scenario.timeline.end(),
            [](const auto& a, const auto& b) { return a.at < b.at; });
  for (auto& entry : c.scenario.timeline) {
    c.recording = &entry.actions;
    auto ran = script->lua_->call_ref(entry.lua_function_ref);
    c.recording = nullptr;
    if (!ran) return ran.error();
  }
  if (auto valid = validate_whole(c); !valid) return valid.error();
  return script;
}

Result<void> ScenarioScript::run_timeline_entry(const TimelineEntry& entry, FaultSink& sink) {
  context_->sink = &sink;
  auto ran = lua_->call_ref(entry.lua_function_ref);
  context_->sink = nullptr;
  return ran;
}

}  // namespace gatedrill
