#include "gateway/routing/registry_routes.hpp"

#include <algorithm>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "gateway/policy/bundle_poller.hpp"

namespace gatedrill::gateway {

Result<RouteTable> route_table_from_registry(std::string_view body, std::string* hash) {
  auto doc = parse_json_object(body);
  if (!doc) return make_error("bad_routes", doc.error().message);
  auto h = json_string(*doc, "hash");
  if (!h || !*h || (*h)->empty()) return make_error("bad_routes", "the table has no \"hash\"");
  const auto* routes = doc->if_contains("routes");
  if (!routes || !routes->is_array()) return make_error("bad_routes", "\"routes\" must be a list");
  if (routes->as_array().size() > RegistryRoutes::kMaxRoutes)
    return make_error("bad_routes",
                      "more than " + std::to_string(RegistryRoutes::kMaxRoutes) + " routes");
  RouteTable table;
  size_t i = 0;
  for (const auto& entry : routes->as_array()) {
    const std::string where = "routes[" + std::to_string(i++) + "]";
    if (!entry.is_object()) return make_error("bad_routes", where + " must be an object");
    auto prefix = json_string(entry.as_object(), "prefix");
    auto service = json_string(entry.as_object(), "service");
    auto cluster = json_string(entry.as_object(), "cluster");
    if (!prefix || !*prefix || !service || !*service || (*service)->empty())
      return make_error("bad_routes", where + " needs a string prefix and a non-empty service");
    if (!cluster) return make_error("bad_routes", where + ": cluster must be a string");
    if (auto added = table.add(Route{**service, **prefix, true, **service, cluster->value_or("")});
        !added)
      return make_error("bad_routes", where + ": " + added.error().message);
  }
  *hash = **h;
  return table;
}

namespace {
std::atomic<uint64_t> next_generation{1};
struct ThreadRoutes {
  uint64_t generation = 0;
  std::shared_ptr<const RouteSnapshot> snapshot;
};
thread_local ThreadRoutes thread_routes;
}  // namespace

void CurrentRoutes::store(std::shared_ptr<const RouteSnapshot> next) {
  current_.store(std::move(next), std::memory_order_release);
  generation_.store(next_generation.fetch_add(1), std::memory_order_release);
}

const RouteSnapshot* CurrentRoutes::get() const {
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (generation == 0) return nullptr;
  // Generations are unique in the process, so a match means this very table. A reload may see
  // a newer table than `generation`; the next call then sees a newer generation and reloads.
  if (thread_routes.generation != generation) {
    thread_routes.snapshot = current_.load(std::memory_order_acquire);
    thread_routes.generation = generation;
  }
  return thread_routes.snapshot.get();
}

RegistryRoutes::RegistryRoutes(RegistryRoutesOptions options) : options_(std::move(options)) {}

RegistryRoutes::~RegistryRoutes() {
  stop();
}

void RegistryRoutes::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void RegistryRoutes::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string RegistryRoutes::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hash_;
}

int64_t RegistryRoutes::failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

int64_t RegistryRoutes::refused() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refused_;
}

bool RegistryRoutes::poll_once() {
  HeaderList headers;
  std::string etag;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    etag = etag_;
  }
  if (!etag.empty()) headers.push_back({"if-none-match", etag});
  if (!options_.node.empty()) headers.push_back({"x-gatedrill-node", options_.node});
  HttpClientOptions http;
  // 50,000 routes are a few MB: give the transfer more than one short interval.
  http.timeout = std::chrono::milliseconds(std::max<int64_t>(5000, options_.interval.count()));
  auto r = http_request("GET", options_.registry_url + "/v1/routes", headers, {}, http);
  const bool reached = r.ok() && (r->status == 200 || r->status == 304 || r->status == 404);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_ = reached ? 0 : failures_ + 1;
  }
  if (!reached || r->status != 200) {
    if (reached) report();
    return reached;
  }
  // Built and checked here, off the request path; requests keep the current table meanwhile.
  std::string hash;
  Result<std::vector<size_t>> clusters = make_error("bad_routes", "");
  auto table = route_table_from_registry(r->body, &hash);
  if (table) {
    clusters = options_.resolve_clusters
                   ? options_.resolve_clusters(*table)
                   : Result<std::vector<size_t>>(std::vector<size_t>(table->size(), 0));
  }
  if (!table || !clusters) {
    {
      // Not fetched again (nor counted again) until the registry publishes another table.
      std::lock_guard<std::mutex> lock(mutex_);
      ++refused_;
      etag_ = table ? hash : std::string(r->header("etag"));
    }
    if (options_.on_refused)
      options_.on_refused(table ? clusters.error().message : table.error().message);
    report();  // still the last good table: the registry sees this node lagging
    return true;
  }
  auto next = std::make_shared<const RouteSnapshot>(
      RouteSnapshot{std::move(*table), std::move(*clusters), hash});
  if (options_.apply) options_.apply(std::move(next));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    etag_ = hash;
    hash_ = std::move(hash);
  }
  report();
  return true;
}

void RegistryRoutes::report() {
  const std::string enforced = version();
  if (options_.node.empty() || enforced.empty()) return;
  HttpClientOptions http;
  http.timeout = std::chrono::milliseconds(std::max<int64_t>(1000, options_.interval.count()));
  (void)http_request("POST", options_.registry_url + "/v1/nodes/" + options_.node,
                     {{"content-type", "application/json"}},
                     to_json(boost::json::object{{"routes_hash", enforced}}), http);
}

void RegistryRoutes::run() {
  BundlePollerOptions timing;
  timing.interval = options_.interval;
  timing.max_backoff = options_.max_backoff;
  timing.jitter = options_.jitter;
  while (true) {
    bool ok = poll_once();
    auto wait = ok ? options_.interval : BundlePoller::backoff(timing, failures(), rng_);
    std::unique_lock<std::mutex> lock(mutex_);
    if (changed_.wait_for(lock, wait, [&] { return stopping_; })) return;
  }
}

}  // namespace gatedrill::gateway
