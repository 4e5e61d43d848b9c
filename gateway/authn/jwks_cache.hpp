#pragma once
// The issuer's signing keys, fetched from its JWKS URL and kept fresh by one background thread:
// fetched at start (retried until the IdP answers), refreshed on a TTL, refetched when a token
// names an unknown kid (at most once per cooldown, so a kid flood costs a handful of fetches),
// and the last good set kept when a refresh fails (stale-if-error).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/crypto/jwt.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill::gateway {

struct JwksCacheOptions {
  std::string jwks_uri;
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};
  std::chrono::milliseconds unknown_kid_cooldown{std::chrono::seconds(30)};
  std::chrono::milliseconds retry_interval{std::chrono::seconds(1)};  // while nothing is cached
  std::chrono::milliseconds fetch_timeout{std::chrono::seconds(3)};
};

// Returns the JWKS document body. Errors are reported in the log and in metrics.
using JwksFetcher =
    std::function<Result<std::string>(const std::string& uri, std::chrono::milliseconds timeout)>;
// The production fetcher: GET with the blocking http_client; non-200 is an error.
JwksFetcher http_jwks_fetcher();

struct JwksCacheHooks {
  std::function<void()> on_fetch;                          // every attempt
  std::function<void(const std::string& why)> on_failure;  // every failed attempt
};

class JwksCache {
 public:
  JwksCache(const TimeSource& time, JwksCacheOptions options, JwksFetcher fetcher,
            JwksCacheHooks hooks = {});
  ~JwksCache();  // stops the thread
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  // One synchronous fetch attempt, then the background thread takes over.
  void start();
  void stop();

  // The current key set; null while nothing was ever fetched.
  std::shared_ptr<const Jwks> keys() const;
  // Asks the background thread for a refetch because `kid` was unknown; ignored within the
  // cooldown of the previous one. Never blocks on the network.
  void request_refetch(std::string_view kid);

  uint64_t fetch_count() const;

 private:
  void run();
  bool fetch_once();

  const TimeSource& time_;
  const JwksCacheOptions options_;
  JwksFetcher fetcher_;
  JwksCacheHooks hooks_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<const Jwks> keys_;
  bool stopping_ = false;
  bool refetch_requested_ = false;
  int64_t last_fetch_ms_ = 0;         // monotonic, last attempt
  int64_t last_kid_refetch_ms_ = -1;  // monotonic, last kid-triggered refetch request
  uint64_t fetches_ = 0;
  std::thread thread_;
};

}  // namespace gatedrill::gateway
