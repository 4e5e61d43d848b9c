#include "gateway/policy/registry.hpp"

#include <cstdio>

#include "core/time/time_source.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {

PolicyRegistry::PolicyRegistry(const TimeSource& time) : time_(time) {}

Result<PolicyBundle> PolicyRegistry::add(std::vector<PolicyModule> modules, std::string data_json,
                                         std::string author, bool break_glass,
                                         const std::string& action, const std::string& detail) {
  auto data = parse_json(data_json.empty() ? "{}" : data_json);
  if (!data) return data.error();
  if (!data->is_object()) return make_error("bad_json", "bundle data must be a JSON object");
  // Compiled here so a broken bundle never becomes active (nodes keep the last good one).
  auto engine = PolicyEngine::from_sources(modules, *data);
  if (!engine) return engine.error();
  PolicyBundle b;
  b.hash = engine->version();
  b.modules = std::move(modules);
  b.data_json = to_json(*data);
  b.published_ms = time_.wall_ms();
  b.author = std::move(author);
  b.break_glass = break_glass;
  std::lock_guard<std::mutex> lock(mutex_);
  b.revision = static_cast<int64_t>(revisions_.size()) + 1;
  revisions_.push_back(b);
  audit_.push_back({b.published_ms, b.author, action, b.revision, detail});
  return b;
}

Result<PolicyBundle> PolicyRegistry::publish(std::vector<PolicyModule> modules,
                                             std::string data_json, std::string author) {
  return add(std::move(modules), std::move(data_json), std::move(author), false, "publish", "");
}

Result<PolicyBundle> PolicyRegistry::break_glass(std::vector<PolicyModule> modules,
                                                 std::string actor, std::string reason) {
  if (trim(actor).empty() || trim(reason).empty()) {
    return make_error("missing_reason",
                      "break-glass needs the actor and a reason; both are audited");
  }
  return add(std::move(modules), "{}", std::move(actor), true, "break_glass", std::move(reason));
}

Result<PolicyBundle> PolicyRegistry::rollback(int64_t revision, std::string actor) {
  auto old = get(revision);
  if (!old) return make_error("unknown_revision", "no policy revision " + std::to_string(revision));
  return add(old->modules, old->data_json, std::move(actor), false, "rollback",
             "from revision " + std::to_string(revision));
}

std::optional<PolicyBundle> PolicyRegistry::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (revisions_.empty()) return std::nullopt;
  return revisions_.back();
}

std::optional<PolicyBundle> PolicyRegistry::get(int64_t revision) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (revision < 1 || revision > static_cast<int64_t>(revisions_.size())) return std::nullopt;
  return revisions_[static_cast<size_t>(revision - 1)];
}

std::vector<AuditEntry> PolicyRegistry::audit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return audit_;
}

void PolicyRegistry::report_enforced(const std::string& node, int64_t revision) {
  std::lock_guard<std::mutex> lock(mutex_);
  enforced_[node] = revision;
}

std::map<std::string, int64_t> PolicyRegistry::enforced() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return enforced_;
}

std::vector<std::string> PolicyRegistry::lagging_nodes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  int64_t current = static_cast<int64_t>(revisions_.size());
  for (const auto& [node, rev] : enforced_) {
    if (rev < current) out.push_back(node);
  }
  return out;
}

Result<std::string> RouteTable::replace(const boost::json::value& routes) {
  if (!routes.is_array())
    return make_error("bad_routes", "routes must be a list of {\"prefix\", \"service\"}");
  if (routes.as_array().size() > kMaxRoutes) {
    return make_error("bad_routes", "at most " + std::to_string(kMaxRoutes) + " routes");
  }
  std::map<std::string, std::string, std::less<>> next, next_clusters;
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  };
  size_t i = 0;
  for (const auto& r : routes.as_array()) {
    const auto* o = r.is_object() ? &r.as_object() : nullptr;
    const auto* prefix = o ? o->if_contains("prefix") : nullptr;
    const auto* service = o ? o->if_contains("service") : nullptr;
    std::string where = "route " + std::to_string(i++);
    if (!prefix || !prefix->is_string() || !service || !service->is_string() ||
        service->as_string().empty()) {
      return make_error("bad_routes", where + ": needs a string prefix and a non-empty service");
    }
    std::string p(prefix->as_string());
    if (p.empty() || p[0] != '/')
      return make_error("bad_routes", where + ": prefix must start with '/'");
    if (p.size() > 1 && p.back() == '/') p.pop_back();
    if (!next.emplace(p, std::string(service->as_string())).second) {
      return make_error("bad_routes", where + ": duplicate prefix " + p);
    }
    if (const auto* cluster = o->if_contains("cluster")) {
      if (!cluster->is_string() || cluster->as_string().empty())
        return make_error("bad_routes", where + ": cluster must be a non-empty string");
      next_clusters.emplace(p, std::string(cluster->as_string()));
    }
  }
  for (const auto& [p, svc] : next) {
    mix(p);
    mix(svc);
    // Tables without clusters keep the hashes they had before clusters existed.
    if (auto c = next_clusters.find(p); c != next_clusters.end()) {
      mix("cluster:");
      mix(c->second);
    }
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "fnv:%016llx", static_cast<unsigned long long>(h));
  std::lock_guard<std::mutex> lock(mutex_);
  routes_ = std::move(next);
  clusters_ = std::move(next_clusters);
  hash_ = buf;
  return hash_;
}

Result<std::string> RouteTable::match(std::string_view path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // Longest prefix on segment boundaries: try the path, then cut at each '/' from the right.
  std::string_view p = path;
  while (!p.empty()) {
    auto it = routes_.find(p);
    if (it != routes_.end()) return it->second;
    auto slash = p.rfind('/');
    if (slash == std::string_view::npos) break;
    p = slash == 0 && p.size() > 1 ? p.substr(0, 1) : p.substr(0, slash);
    if (p == "/") {
      auto root = routes_.find("/");
      if (root != routes_.end()) return root->second;
      break;
    }
  }
  return make_error("route_not_found", "no route for " + std::string(path));
}

size_t RouteTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return routes_.size();
}

std::string RouteTable::hash() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hash_;
}

RouteTable::Snapshot RouteTable::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Snapshot snap{hash_, {}};
  snap.routes.reserve(routes_.size());
  for (const auto& [prefix, service] : routes_) {
    auto c = clusters_.find(prefix);
    snap.routes.push_back({prefix, service, c == clusters_.end() ? std::string() : c->second});
  }
  return snap;
}

ServiceDiscovery::ServiceDiscovery(const TimeSource& time) : time_(time) {}

void ServiceDiscovery::heartbeat(const std::string& service, const std::string& address,
                                 std::chrono::milliseconds ttl) {
  std::lock_guard<std::mutex> lock(mutex_);
  expiry_ms_[service][address] = time_.monotonic_ms() + ttl.count();
}

void ServiceDiscovery::deregister(const std::string& service, const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = expiry_ms_.find(service);
  if (it != expiry_ms_.end()) it->second.erase(address);
}

Result<std::vector<std::string>> ServiceDiscovery::lookup(std::string_view service) const {
  int64_t now = time_.monotonic_ms();
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  auto it = expiry_ms_.find(service);
  if (it != expiry_ms_.end()) {
    for (const auto& [address, expiry] : it->second) {
      if (expiry > now) out.push_back(address);
    }
  }
  if (out.empty()) {
    return make_error("service_not_found",
                      "no live instance of service '" + std::string(service) + "'");
  }
  return out;
}

}  // namespace gatedrill
