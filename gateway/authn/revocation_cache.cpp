#include "gateway/authn/revocation_cache.hpp"

#include <algorithm>
#include <utility>

#include "gateway/redis/redis_keys.hpp"
#include "gateway/redis/redis_link.hpp"

namespace gatedrill::gateway {

namespace {
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kMaxRevokedHoldNs = 3600LL * 1'000'000'000;  // an hour, whatever exp says
}  // namespace

RevocationCache::RevocationCache(const TimeSource& time, RevocationOptions options)
    : time_(time), options_(std::move(options)) {}

RevocationCache::Shard& RevocationCache::shard_for(std::string_view jti) {
  return shards_[std::hash<std::string_view>{}(jti) % shards_.size()];
}

std::optional<bool> RevocationCache::cached(std::string_view jti) {
  Shard& shard = shard_for(jti);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(std::string(jti));
  if (it == shard.entries.end()) return std::nullopt;
  if (time_.monotonic_ns() >= it->second.until_ns) {
    shard.entries.erase(it);
    return std::nullopt;
  }
  return it->second.revoked;
}

void RevocationCache::remember(std::string_view jti, bool revoked, std::optional<int64_t> exp) {
  const int64_t now = time_.monotonic_ns();
  int64_t hold = options_.cache_ttl.count() * kNsPerMs;
  if (revoked) {
    // Until the token expires (by the node's wall clock), at least the TTL, at most an hour.
    int64_t left = exp ? (*exp - time_.wall_seconds()) * 1'000'000'000 : hold;
    hold = std::clamp(left, hold, kMaxRevokedHoldNs);
  }
  if (hold <= 0) return;
  Shard& shard = shard_for(jti);
  std::lock_guard lock(shard.mutex);
  // Bounded: a full shard is emptied (a burst of distinct tokens costs a round of lookups).
  if (shard.entries.size() >= std::max<size_t>(1, options_.max_entries / shards_.size()))
    shard.entries.clear();
  shard.entries[std::string(jti)] = Entry{revoked, now + hold};
}

void RevocationCache::lookup(RedisLink& link, std::string jti, std::optional<int64_t> exp,
                             std::function<void(Result<bool>)> done) {
  std::vector<std::vector<std::string>> commands{{"EXISTS", revoked_jti_key(jti)}};
  link.submit(std::move(commands), [this, jti = std::move(jti), exp,
                                    done = std::move(done)](RedisLink::Replies replies) {
    if (!replies) {
      done(replies.error());
      return;
    }
    const resp::Value& reply = replies->front();
    if (reply.type != resp::Value::Type::kInteger) {
      done(make_error("redis_reply", "EXISTS answered " + std::string(resp::type_name(reply.type)) +
                                         (reply.is_error() ? ": " + reply.str : "")));
      return;
    }
    const bool revoked = reply.integer > 0;
    remember(jti, revoked, exp);
    done(revoked);
  });
}

size_t RevocationCache::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.entries.size();
  }
  return n;
}

}  // namespace gatedrill::gateway
