#include "gateway/authn/token_cache.hpp"

#include <utility>

namespace gatedrill::gateway {

std::optional<VerifiedToken> TokenCache::find(std::string_view token) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(token);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void TokenCache::insert(std::string_view token, VerifiedToken verified) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(token); it != index_.end()) {
    it->second->second = std::move(verified);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  lru_.emplace_front(std::string(token), std::move(verified));
  index_.emplace(lru_.front().first, lru_.begin());
}

void TokenCache::erase(std::string_view token) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(token);
  if (it == index_.end()) return;
  auto node = it->second;
  index_.erase(it);
  lru_.erase(node);
}

size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace gatedrill::gateway
