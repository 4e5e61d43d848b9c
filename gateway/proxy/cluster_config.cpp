#include "gateway/proxy/cluster_config.hpp"

#include <fstream>
#include <set>
#include <utility>

#include <boost/json/array.hpp>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {

// Files named by the clusters file must be readable now, not at the first request.
Result<void> readable(const std::string& where, std::string_view field, const std::string& path) {
  if (path.empty())
    return make_error("bad_clusters", where + ": " + std::string(field) + " is empty");
  if (!std::ifstream(path))
    return make_error("bad_clusters", where + ": " + std::string(field) + ": cannot read " + path);
  return {};
}

Result<std::chrono::milliseconds> duration_field(const boost::json::object& o, const char* key,
                                                 const std::string& where,
                                                 std::chrono::milliseconds fallback) {
  auto text = json_string(o, key);
  if (!text) return make_error("bad_clusters", where + ": " + text.error().message);
  if (!*text) return fallback;
  auto d = parse_duration(**text);
  if (!d) return make_error("bad_clusters", where + ": " + key + ": " + d.error().message);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  if (ms.count() <= 0) return make_error("bad_clusters", where + ": " + key + " must be > 0");
  return ms;
}

Result<int64_t> count_field(const boost::json::object& o, const char* key, const std::string& where,
                            int64_t fallback, int64_t min) {
  auto n = json_int(o, key);
  if (!n) return make_error("bad_clusters", where + ": " + n.error().message);
  if (!*n) return fallback;
  if (**n < min || **n > 10'000'000)
    return make_error("bad_clusters",
                      where + ": " + key + " must be " + std::to_string(min) + "..10000000");
  return **n;
}

Result<UpstreamTlsOptions> tls_field(const boost::json::value& value, const std::string& where) {
  if (!value.is_object()) return make_error("bad_clusters", where + ": tls must be an object");
  const auto& o = value.as_object();
  for (const auto& [key, v] : o) {
    (void)v;
    if (key != "ca" && key != "sni" && key != "cert" && key != "key")
      return make_error("bad_clusters",
                        where + ": unknown key tls." + std::string(key) + " (ca, sni, cert, key)");
  }
  UpstreamTlsOptions tls;
  for (auto [key, into] :
       {std::pair{"ca", &tls.ca_file}, std::pair{"sni", &tls.server_name},
        std::pair{"cert", &tls.client_cert_file}, std::pair{"key", &tls.client_key_file}}) {
    auto text = json_string(o, key);
    if (!text) return make_error("bad_clusters", where + ": tls." + text.error().message);
    if (*text) *into = **text;
  }
  if (!tls.client_key_file.empty() && tls.client_cert_file.empty())
    return make_error("bad_clusters", where + ": tls.key needs tls.cert");
  for (auto [field, path] :
       {std::pair{"tls.ca", &tls.ca_file}, std::pair{"tls.cert", &tls.client_cert_file},
        std::pair{"tls.key", &tls.client_key_file}})
    if (!path->empty())
      if (auto r = readable(where, field, *path); !r) return r.error();
  return tls;
}

Result<ClusterOptions> parse_cluster(const boost::json::value& entry, const std::string& index,
                                     const ClusterOptions& defaults) {
  if (!entry.is_object()) return make_error("bad_clusters", index + " must be an object");
  const auto& o = entry.as_object();
  auto name = json_string(o, "name");
  if (!name) return make_error("bad_clusters", index + ": " + name.error().message);
  if (!*name || (*name)->empty()) return make_error("bad_clusters", index + " needs a name");
  const std::string where = index + " (" + **name + ")";
  static const std::set<std::string, std::less<>> kKeys = {"name",
                                                           "endpoints",
                                                           "service",
                                                           "lb",
                                                           "connect_timeout",
                                                           "timeout",
                                                           "max_connections",
                                                           "max_pending",
                                                           "max_requests",
                                                           "max_concurrent_streams",
                                                           "breaker_failures",
                                                           "breaker_open_for",
                                                           "tls"};
  for (const auto& [key, v] : o) {
    (void)v;
    if (!kKeys.count(key))
      return make_error("bad_clusters", where + ": unknown key '" + std::string(key) + "'");
  }
  ClusterOptions c = defaults;
  c.name = **name;
  c.endpoints.clear();
  c.tls.reset();
  c.service.clear();
  auto service = json_string(o, "service");
  if (!service) return make_error("bad_clusters", where + ": " + service.error().message);
  if (*service) {
    if ((*service)->empty()) return make_error("bad_clusters", where + ": service is empty");
    c.service = **service;
  }
  std::string scheme;
  if (const auto* endpoints = o.if_contains("endpoints")) {
    if (!c.service.empty())
      return make_error("bad_clusters",
                        where +
                            ": endpoints and service exclude each other (service: from "
                            "discovery)");
    if (!endpoints->is_array() || endpoints->as_array().empty())
      return make_error("bad_clusters", where + ": endpoints must be a non-empty array of URLs");
    size_t i = 0;
    for (const auto& e : endpoints->as_array()) {
      const std::string at = where + ": endpoints[" + std::to_string(i++) + "]";
      if (!e.is_string()) return make_error("bad_clusters", at + " must be a string");
      auto url = Url::parse(std::string(e.as_string()));
      if (!url) return make_error("bad_clusters", at + ": " + url.error().message);
      if (url->target != "/")
        return make_error("bad_clusters", at + " must be scheme://host:port without a path");
      if (!scheme.empty() && url->scheme != scheme)
        return make_error("bad_clusters", at + ": all endpoints must use one scheme");
      scheme = url->scheme;
      c.endpoints.push_back(std::move(*url));
    }
  } else if (c.service.empty()) {
    return make_error("bad_clusters", where + " needs endpoints or a service (discovery)");
  }
  if (const auto* tls = o.if_contains("tls")) {
    if (scheme == "http")
      return make_error("bad_clusters", where + ": tls needs https:// endpoints");
    auto parsed = tls_field(*tls, where);
    if (!parsed) return parsed.error();
    c.tls = std::move(*parsed);
  } else if (scheme == "https") {
    c.tls = UpstreamTlsOptions{};  // verified against the system's trust store
  }
  auto lb = json_string(o, "lb");
  if (!lb) return make_error("bad_clusters", where + ": " + lb.error().message);
  if (*lb) {
    if (**lb == "round_robin")
      c.lb = LbPolicy::kRoundRobin;
    else if (**lb == "least_requests")
      c.lb = LbPolicy::kLeastRequests;
    else
      return make_error("bad_clusters",
                        where + ": lb must be round_robin or least_requests (got '" + **lb + "')");
  }
  auto connect = duration_field(o, "connect_timeout", where, c.connect_timeout);
  if (!connect) return connect.error();
  c.connect_timeout = *connect;
  auto timeout = duration_field(o, "timeout", where, c.timeout);
  if (!timeout) return timeout.error();
  c.timeout = *timeout;
  auto open_for = duration_field(o, "breaker_open_for", where, c.breaker.open_for);
  if (!open_for) return open_for.error();
  c.breaker.open_for = *open_for;
  for (auto [key, into, min] :
       {std::tuple{"max_connections", &c.max_connections, int64_t{1}},
        std::tuple{"max_pending", &c.max_pending, int64_t{0}},
        std::tuple{"max_requests", &c.max_requests, int64_t{1}},
        std::tuple{"max_concurrent_streams", &c.max_concurrent_streams, int64_t{1}}}) {
    auto n = count_field(o, key, where, static_cast<int64_t>(*into), min);
    if (!n) return n.error();
    *into = static_cast<size_t>(*n);
  }
  auto failures = count_field(o, "breaker_failures", where, c.breaker.consecutive_failures, 0);
  if (!failures) return failures.error();
  c.breaker.consecutive_failures = static_cast<int>(*failures);
  return c;
}

}  // namespace

Result<std::vector<ClusterOptions>> parse_clusters_json(std::string_view json,
                                                        const ClusterOptions& defaults) {
  auto doc = parse_json(json);
  if (!doc) return make_error("bad_clusters", doc.error().message);
  if (!doc->is_array()) return make_error("bad_clusters", "clusters must be a JSON array");
  std::vector<ClusterOptions> out;
  std::set<std::string, std::less<>> names;
  size_t i = 0;
  for (const auto& entry : doc->as_array()) {
    const std::string index = "clusters[" + std::to_string(i++) + "]";
    auto cluster = parse_cluster(entry, index, defaults);
    if (!cluster) return cluster.error();
    if (cluster->name == "default")
      return make_error("bad_clusters",
                        index + ": the name 'default' is the --upstream cluster (reserved)");
    if (!names.insert(cluster->name).second)
      return make_error("bad_clusters",
                        index + " (" + cluster->name + "): a cluster of that name exists already");
    out.push_back(std::move(*cluster));
  }
  return out;
}

Result<Url> parse_endpoint_address(std::string_view address) {
  std::string text(address);
  if (text.find("://") == std::string::npos) text = "http://" + text;
  auto url = Url::parse(text);
  if (!url) return make_error("bad_address", std::string(address) + ": " + url.error().message);
  if (url->port == 0) return make_error("bad_address", std::string(address) + ": no port");
  return url;
}

}  // namespace gatedrill::gateway
