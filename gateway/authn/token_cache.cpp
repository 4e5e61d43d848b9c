#include "gateway/authn/token_cache.hpp"

#include <algorithm>

namespace gatedrill::gateway {

namespace {

// A stored token is one this gateway verified, so its last characters are its signature's,
// which nobody can choose without the issuer's key: hashing them and the length spreads stored
// tokens as well as hashing all ~600 bytes would, at a twentieth of the cost (it runs on every
// request). A client's made-up tokens only look up, they never get stored.
uint64_t token_hash(std::string_view token) {
  const size_t n = std::min<size_t>(token.size(), 32);
  const auto* p = reinterpret_cast<const unsigned char*>(token.data() + token.size() - n);
  uint64_t h = 0xcbf29ce484222325ull ^ token.size();  // FNV-1a over the tail
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

}  // namespace

TokenCache::TokenCache(size_t capacity) : capacity_(capacity) {
  if (capacity_ == 0) return;
  size_t places = 8;
  while (places < 2 * capacity_) places *= 2;  // at most half full: short probes
  table_.assign(places, 0);
  mask_ = places - 1;
}

uint32_t TokenCache::lookup(std::string_view token, uint64_t hash, size_t* position) const {
  size_t i = hash & mask_;
  while (table_[i] != 0) {
    const uint32_t slot = table_[i] - 1;
    if (slots_[slot].hash == hash && slots_[slot].token == token) {
      *position = i;
      return slot;
    }
    i = (i + 1) & mask_;
  }
  *position = i;
  return kNone;
}

void TokenCache::remove_at(size_t position) {
  // Later entries of the same probe run move back into the hole unless their home place lies
  // cyclically after the hole (then they are still reachable from it).
  size_t hole = position;
  for (size_t i = (hole + 1) & mask_; table_[i] != 0; i = (i + 1) & mask_) {
    const size_t home = slots_[table_[i] - 1].hash & mask_;
    const bool reachable = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!reachable) {
      table_[hole] = table_[i];
      hole = i;
    }
  }
  table_[hole] = 0;
}

void TokenCache::unlink(uint32_t slot) {
  Slot& s = slots_[slot];
  (s.newer == kNone ? newest_ : slots_[s.newer].older) = s.older;
  (s.older == kNone ? oldest_ : slots_[s.older].newer) = s.newer;
  s.newer = s.older = kNone;
}

void TokenCache::push_front(uint32_t slot) {
  Slot& s = slots_[slot];
  s.newer = kNone;
  s.older = newest_;
  if (newest_ != kNone) slots_[newest_].newer = slot;
  newest_ = slot;
  if (oldest_ == kNone) oldest_ = slot;
}

std::optional<VerifiedToken> TokenCache::find(std::string_view token) {
  if (capacity_ == 0) return std::nullopt;
  const uint64_t hash = token_hash(token);
  std::lock_guard lock(mutex_);
  size_t position = 0;
  const uint32_t slot = lookup(token, hash, &position);
  if (slot == kNone) return std::nullopt;
  if (slot != newest_) {
    unlink(slot);
    push_front(slot);
  }
  return slots_[slot].verified;
}

void TokenCache::insert(std::string_view token, const VerifiedToken& verified) {
  if (capacity_ == 0) return;
  const uint64_t hash = token_hash(token);
  std::lock_guard lock(mutex_);
  size_t position = 0;
  uint32_t slot = lookup(token, hash, &position);
  if (slot != kNone) {
    slots_[slot].verified = verified;
    unlink(slot);
    push_front(slot);
    return;
  }
  if (size_ >= capacity_) {  // the least recently used makes room, its slot is reused below
    const uint32_t victim = oldest_;
    size_t victim_position = 0;
    lookup(slots_[victim].token, slots_[victim].hash, &victim_position);
    remove_at(victim_position);
    unlink(victim);
    free_.push_back(victim);
    --size_;
    lookup(token, hash, &position);  // the removal may have moved the free place
  }
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.token.assign(token);  // reuses the capacity a previous token left
  s.verified = verified;  // likewise for subject and jti
  s.hash = hash;
  table_[position] = slot + 1;
  push_front(slot);
  ++size_;
}

void TokenCache::erase(std::string_view token) {
  if (capacity_ == 0) return;
  const uint64_t hash = token_hash(token);
  std::lock_guard lock(mutex_);
  size_t position = 0;
  const uint32_t slot = lookup(token, hash, &position);
  if (slot == kNone) return;
  remove_at(position);
  unlink(slot);
  free_.push_back(slot);
  --size_;
}

size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

}  // namespace gatedrill::gateway
