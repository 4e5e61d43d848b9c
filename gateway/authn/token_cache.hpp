#pragma once
// Verified tokens, so a repeated token skips the signature check: a bounded LRU keyed by the
// token itself. It remembers only what must be rechecked on every hit (exp, nbf) and the
// identity; the caller rechecks validity against the current (possibly skewed) wall time.
//
// Every uncached token that verifies is inserted, so the insert allocates nothing once the
// cache is full: entries live in slots that are reused in place (an evicted token's strings
// keep their capacity for the next one), the LRU order is a list of slot indices, and the index
// is an open-addressing table of slot numbers sized once.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/shared_string.hpp"

namespace gatedrill::gateway {

struct VerifiedToken {
  SharedString subject;  // shared: a hit's copy, the verdict's identity and the log's cost no copy
  SharedString jti;      // shared too: a hit's copy and the revocation lookup's
  std::optional<int64_t> exp;  // unix seconds
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
  uint32_t provider = 0;  // which issuer verified it (its leeway applies on every hit)
};

class TokenCache {
 public:
  explicit TokenCache(size_t capacity);

  std::optional<VerifiedToken> find(std::string_view token);
  void insert(std::string_view token, const VerifiedToken& verified);
  void erase(std::string_view token);
  size_t size() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Slot {
    std::string token;
    VerifiedToken verified;
    uint64_t hash = 0;
    uint32_t newer = kNone;  // LRU neighbours (slot indices)
    uint32_t older = kNone;
  };

  // The slot holding `token` or kNone; *position is its place in table_, or the free place
  // where it would go.
  uint32_t lookup(std::string_view token, uint64_t hash, size_t* position) const;
  void remove_at(size_t position);  // backward-shift deletion: no tombstones
  void unlink(uint32_t slot);
  void push_front(uint32_t slot);

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;   // erased slots, reused first
  std::vector<uint32_t> table_;  // slot index + 1 per place, 0 empty; linear probing
  size_t mask_ = 0;
  uint32_t newest_ = kNone;
  uint32_t oldest_ = kNone;
  size_t size_ = 0;
};

}  // namespace gatedrill::gateway
