#pragma once
// Verified tokens, so a repeated token skips the signature check: a bounded LRU keyed by the
// token itself. It remembers only what must be rechecked on every hit (exp, nbf) and the
// identity; the caller rechecks validity against the current (possibly skewed) wall time.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatedrill::gateway {

struct VerifiedToken {
  std::string subject;
  std::string jti;
  std::optional<int64_t> exp;  // unix seconds
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
  uint32_t provider = 0;  // which issuer verified it (its leeway applies on every hit)
};

class TokenCache {
 public:
  explicit TokenCache(size_t capacity) : capacity_(capacity) {}

  std::optional<VerifiedToken> find(std::string_view token);
  void insert(std::string_view token, VerifiedToken verified);
  void erase(std::string_view token);
  size_t size() const;

 private:
  using Lru = std::list<std::pair<std::string, VerifiedToken>>;
  const size_t capacity_;
  mutable std::mutex mutex_;
  Lru lru_;                                                    // most recent first
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into lru_ keys
};

}  // namespace gatedrill::gateway
