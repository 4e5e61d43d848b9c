#pragma once
// The IdP's signing keys and their life cycle: which key signs, which keys the JWKS publishes,
// and the two rotation orders the drills need (publish_first: the safe order; sign_first: the
// kid-mismatch drill, where tokens carry a kid the JWKS does not have yet). Thread-safe.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/jwt.hpp"
#include "core/crypto/keys.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct SigningKey {
  std::string kid;  // RFC 7638 thumbprint
  JwsAlg alg = JwsAlg::kRS256;
  Key key;
  bool published = false;
};

class KeyRing {
 public:
  // The first key: generated for `alg`, or `initial` when it fits. Published and signing.
  static Result<KeyRing> create(const TimeSource& time, JwsAlg alg, std::optional<Key> initial = std::nullopt);

  KeyRing(KeyRing&& other) noexcept;

  SigningKey current() const;
  std::optional<SigningKey> find(std::string_view kid) const;
  // A key that can sign `alg`: the current one when it fits, else another key of the ring, else
  // a new unpublished key (admin tokens for drills with another alg).
  Result<SigningKey> key_for(JwsAlg alg);
  std::vector<SigningKey> keys() const;
  std::string jwks_json() const;  // published keys only

  // A new key in the JWKS at once; signing switches to it after `delay` (now when zero).
  Result<SigningKey> rotate_publish_first(std::chrono::milliseconds delay);
  // Signing switches at once to a new key that the JWKS does not publish until publish_pending().
  Result<SigningKey> rotate_sign_first();
  // Publishes every unpublished key; returns their kids.
  std::vector<std::string> publish_pending();

 private:
  KeyRing(const TimeSource& time, JwsAlg alg) : time_(&time), alg_(alg) {}
  Result<SigningKey> generate(JwsAlg alg);
  void apply_due_switch() const;  // mutex held
  void trim();                    // mutex held

  static constexpr size_t kMaxKeys = 16;  // old keys beyond this are dropped from the JWKS

  const TimeSource* time_;
  JwsAlg alg_;
  mutable std::mutex mutex_;
  mutable std::vector<SigningKey> keys_;
  mutable size_t current_ = 0;
  // A delayed publish_first switch: key index and the monotonic time it takes effect.
  mutable std::optional<size_t> pending_switch_;
  mutable int64_t switch_at_ns_ = 0;
};

}  // namespace gatedrill
