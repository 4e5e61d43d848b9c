#include "gateway/authn/jwks_cache.hpp"

#include <cstdio>
#include <utility>
#include <vector>

#include "core/http/http_client.hpp"

namespace gatedrill::gateway {

JwksFetcher http_jwks_fetcher() {
  return [](const std::string& uri, std::chrono::milliseconds timeout) -> Result<std::string> {
    HttpClientOptions options;
    options.timeout = timeout;
    auto response = http_get(uri, options);
    if (!response) return response.error();
    if (response->status != 200)
      return make_error("jwks_status",
                        "JWKS " + uri + " answered " + std::to_string(response->status));
    return std::move(response->body);
  };
}

JwksCache::JwksCache(const TimeSource& time, JwksCacheOptions options, JwksFetcher fetcher,
                     JwksCacheHooks hooks)
    : time_(time),
      options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      hooks_(std::move(hooks)) {}

JwksCache::~JwksCache() {
  stop();
}

void JwksCache::start() {
  fetch_once();
  thread_ = std::thread([this] { run(); });
}

void JwksCache::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Jwks> JwksCache::keys() const {
  std::lock_guard lock(mutex_);
  return keys_;
}

uint64_t JwksCache::fetch_count() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

void JwksCache::request_refetch(std::string_view /*kid*/) {
  {
    std::lock_guard lock(mutex_);
    const int64_t now = time_.monotonic_ms();
    if (last_kid_refetch_ms_ >= 0 &&
        now - last_kid_refetch_ms_ < options_.unknown_kid_cooldown.count())
      return;
    last_kid_refetch_ms_ = now;
    refetch_requested_ = true;
  }
  wake_.notify_all();
}

bool JwksCache::fetch_once() {
  {
    std::lock_guard lock(mutex_);
    ++fetches_;
    last_fetch_ms_ = time_.monotonic_ms();
  }
  if (hooks_.on_fetch) hooks_.on_fetch();
  auto body = fetcher_(options_.jwks_uri, options_.fetch_timeout);
  std::string why;
  if (!body) {
    why = body.error().message;
  } else {
    std::vector<std::string> warnings;
    auto parsed = Jwks::parse(*body, &warnings);
    for (const auto& w : warnings)
      std::fprintf(stderr, "gateway: JWKS key skipped: %s\n", w.c_str());
    if (!parsed) {
      why = parsed.error().message;
    } else {
      auto keys = std::make_shared<const Jwks>(std::move(*parsed));
      std::lock_guard lock(mutex_);
      keys_ = std::move(keys);
      return true;
    }
  }
  // Stale-if-error: the previous key set stays in place.
  std::fprintf(stderr, "gateway: JWKS fetch from %s failed: %s\n", options_.jwks_uri.c_str(),
               why.c_str());
  if (hooks_.on_failure) hooks_.on_failure(why);
  return false;
}

void JwksCache::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Without keys we retry quickly; with keys we wait for the TTL or a kid-triggered request.
    const auto wait = keys_ ? options_.ttl : options_.retry_interval;
    const int64_t due = last_fetch_ms_ + wait.count();
    const int64_t now = time_.monotonic_ms();
    if (!refetch_requested_ && now < due) {
      wake_.wait_for(lock, std::chrono::milliseconds(due - now));
      continue;  // re-evaluate: stop, request, or due
    }
    refetch_requested_ = false;
    lock.unlock();
    fetch_once();
    lock.lock();
  }
}

}  // namespace gatedrill::gateway
