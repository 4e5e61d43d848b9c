#include "gateway/policy/bundle_poller.hpp"

#include <algorithm>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"

namespace gatedrill {

BundlePoller::BundlePoller(BundlePollerOptions options) : options_(std::move(options)) {}

BundlePoller::~BundlePoller() {
  stop();
}

void BundlePoller::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void BundlePoller::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const PolicyEngine> BundlePoller::engine() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return engine_;
}

int64_t BundlePoller::revision() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return revision_;
}

int64_t BundlePoller::failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

bool BundlePoller::wait_for_revision(int64_t want, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return revision_ >= want; });
}

bool BundlePoller::poll_once() {
  std::string hash;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hash = hash_;
  }
  HeaderList headers;
  if (!hash.empty()) headers.push_back({"if-none-match", hash});
  if (!options_.node.empty()) headers.push_back({"x-gatedrill-node", options_.node});
  HttpClientOptions http;
  http.timeout = std::chrono::milliseconds(std::max<int64_t>(1000, options_.interval.count()));
  auto r = http_request("GET", options_.registry_url + "/v1/bundle", headers, {}, http);
  bool ok = r.ok() && (r->status == 200 || r->status == 304);
  std::shared_ptr<const PolicyEngine> next;
  int64_t next_revision = 0;
  std::string next_hash;
  if (ok && r->status == 200) {
    ok = false;
    auto doc = parse_json(r->body);
    if (doc && doc->is_object() && doc->as_object().contains("modules")) {
      std::vector<PolicyModule> modules;
      for (const auto& kv : doc->at("modules").as_object()) {
        if (kv.value().is_string())
          modules.push_back({std::string(kv.key()), std::string(kv.value().as_string())});
      }
      PolicyOptions po;
      po.time = options_.time;
      po.timeout = options_.eval_timeout;
      const auto* data = doc->as_object().if_contains("data");
      auto engine = PolicyEngine::from_sources(modules, data ? *data : boost::json::object(), po);
      // A bundle that does not compile here is a failure: keep the last good one.
      if (engine && doc->at("revision").is_int64()) {
        next = std::make_shared<const PolicyEngine>(std::move(*engine));
        next_revision = doc->at("revision").as_int64();
        next_hash = std::string(doc->at("hash").as_string());
        ok = true;
      }
    }
  }
  int64_t enforced;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_ = ok ? 0 : failures_ + 1;
    if (next) {
      engine_ = std::move(next);
      revision_ = next_revision;
      hash_ = next_hash;
    }
    enforced = revision_;
  }
  changed_.notify_all();
  if (ok && !options_.node.empty()) {
    (void)http_request("POST", options_.registry_url + "/v1/nodes/" + options_.node,
                       {{"content-type", "application/json"}},
                       "{\"revision\":" + std::to_string(enforced) + "}", http);
  }
  return ok;
}

std::chrono::milliseconds BundlePoller::backoff(const BundlePollerOptions& options,
                                                int64_t failures, std::mt19937_64& rng) {
  int64_t n = std::clamp<int64_t>(failures, 0, 20);
  int64_t cap = std::min<int64_t>(options.max_backoff.count(), options.interval.count() << n);
  if (!options.jitter) return std::chrono::milliseconds(cap);
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 1));
  return std::chrono::milliseconds(dist(rng));
}

void BundlePoller::run() {
  while (true) {
    bool ok = poll_once();
    std::chrono::milliseconds wait = ok ? options_.interval : backoff(options_, failures(), rng_);
    std::unique_lock<std::mutex> lock(mutex_);
    if (changed_.wait_for(lock, wait, [&] { return stopping_; })) return;
  }
}

}  // namespace gatedrill
