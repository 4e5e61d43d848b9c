#pragma once
// JTI revocation (seed 000: a Redis blacklist checked in the filter phase, with a local cache so
// most requests never wait on Redis). A "not revoked" answer is trusted for `cache_ttl`, which
// bounds how long a freshly revoked token still passes; a "revoked" answer is kept until the
// token expires (it cannot become valid again). Thread-safe, bounded in entries.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill::gateway {

class RedisLink;

struct RevocationOptions {
  std::chrono::milliseconds cache_ttl{1000};  // 0: ask Redis on every request
  bool fail_open = false;                     // Redis unreachable: let tokens through
  size_t max_entries = 100000;
};

class RevocationCache {
 public:
  RevocationCache(const TimeSource& time, RevocationOptions options);

  const RevocationOptions& options() const { return options_; }
  // The remembered answer: true revoked, false not revoked; nullopt: ask Redis.
  std::optional<bool> cached(std::string_view jti);
  // EXISTS on the shared key; the answer is remembered. `exp`: the token's exp (unix seconds).
  // `done` runs once, on the link's thread or inline: true revoked, or the link's error.
  void lookup(RedisLink& link, std::string jti, std::optional<int64_t> exp,
              std::function<void(Result<bool>)> done);
  void remember(std::string_view jti, bool revoked, std::optional<int64_t> exp);
  size_t size() const;

 private:
  struct Entry {
    bool revoked = false;
    int64_t until_ns = 0;  // monotonic
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
  };
  Shard& shard_for(std::string_view jti);

  const TimeSource& time_;
  const RevocationOptions options_;
  std::array<Shard, 16> shards_;
};

}  // namespace gatedrill::gateway
