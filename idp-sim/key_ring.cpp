#include "idp-sim/key_ring.hpp"

namespace gatedrill {

namespace {
KeyType key_type_for(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kES256: return KeyType::kEcP256;
    case JwsAlg::kEdDSA: return KeyType::kEd25519;
    default: return KeyType::kRsa;
  }
}
}  // namespace

Result<KeyRing> KeyRing::create(const TimeSource& time, JwsAlg alg, std::optional<Key> initial) {
  KeyRing ring(time, alg);
  if (initial) {
    if (!initial->has_private() || !jws_alg_fits_key(alg, *initial))
      return make_error("bad_key", "the stored key cannot sign " + std::string(jws_alg_name(alg)));
    ring.keys_.push_back(SigningKey{initial->thumbprint(), alg, *initial, true});
    return ring;
  }
  auto first = ring.generate(alg);
  if (!first) return first.error();
  first->published = true;
  ring.keys_.push_back(std::move(*first));
  return ring;
}

KeyRing::KeyRing(KeyRing&& other) noexcept
    : time_(other.time_),
      alg_(other.alg_),
      keys_(std::move(other.keys_)),
      current_(other.current_),
      pending_switch_(other.pending_switch_),
      switch_at_ns_(other.switch_at_ns_) {}

Result<SigningKey> KeyRing::generate(JwsAlg alg) {
  auto key = Key::generate(key_type_for(alg));
  if (!key) return key.error();
  return SigningKey{key->thumbprint(), alg, *key, false};
}

void KeyRing::apply_due_switch() const {
  if (pending_switch_ && time_->monotonic_ns() >= switch_at_ns_) {
    current_ = *pending_switch_;
    pending_switch_.reset();
  }
}

void KeyRing::trim() {
  // Drop the oldest keys that neither sign nor wait to sign.
  while (keys_.size() > kMaxKeys) {
    size_t victim = 0;
    while (victim == current_ || (pending_switch_ && victim == *pending_switch_)) ++victim;
    keys_.erase(keys_.begin() + static_cast<std::ptrdiff_t>(victim));
    if (current_ > victim) --current_;
    if (pending_switch_ && *pending_switch_ > victim) --*pending_switch_;
  }
}

SigningKey KeyRing::current() const {
  std::lock_guard lock(mutex_);
  apply_due_switch();
  return keys_[current_];
}

std::optional<SigningKey> KeyRing::find(std::string_view kid) const {
  std::lock_guard lock(mutex_);
  for (const auto& k : keys_) {
    if (k.kid == kid) return k;
  }
  return std::nullopt;
}

Result<SigningKey> KeyRing::key_for(JwsAlg alg) {
  {
    std::lock_guard lock(mutex_);
    apply_due_switch();
    if (jws_alg_fits_key(alg, keys_[current_].key)) {
      SigningKey k = keys_[current_];
      k.alg = alg;  // RS256 and PS256 share an RSA key
      return k;
    }
    for (const auto& k : keys_) {
      if (jws_alg_fits_key(alg, k.key)) {
        SigningKey copy = k;
        copy.alg = alg;
        return copy;
      }
    }
  }
  auto fresh = generate(alg);  // slow (RSA): outside the lock
  if (!fresh) return fresh.error();
  std::lock_guard lock(mutex_);
  keys_.push_back(*fresh);
  trim();
  return fresh;
}

std::vector<SigningKey> KeyRing::keys() const {
  std::lock_guard lock(mutex_);
  apply_due_switch();
  return keys_;
}

std::string KeyRing::jwks_json() const {
  Jwks jwks;
  {
    std::lock_guard lock(mutex_);
    apply_due_switch();
    for (const auto& k : keys_) {
      if (k.published) jwks.add(k.kid, k.alg, k.key);
    }
  }
  return jwks.to_json();
}

Result<SigningKey> KeyRing::rotate_publish_first(std::chrono::milliseconds delay) {
  auto fresh = generate(alg_);
  if (!fresh) return fresh.error();
  fresh->published = true;
  std::lock_guard lock(mutex_);
  apply_due_switch();
  keys_.push_back(*fresh);
  size_t index = keys_.size() - 1;
  if (delay.count() <= 0) {
    current_ = index;
    pending_switch_.reset();
  } else {
    pending_switch_ = index;
    switch_at_ns_ = time_->monotonic_ns() + std::chrono::nanoseconds(delay).count();
  }
  trim();
  return fresh;
}

Result<SigningKey> KeyRing::rotate_sign_first() {
  auto fresh = generate(alg_);
  if (!fresh) return fresh.error();
  std::lock_guard lock(mutex_);
  keys_.push_back(*fresh);
  current_ = keys_.size() - 1;
  pending_switch_.reset();
  trim();
  return fresh;
}

std::vector<std::string> KeyRing::publish_pending() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> kids;
  for (auto& k : keys_) {
    if (!k.published) {
      k.published = true;
      kids.push_back(k.kid);
    }
  }
  return kids;
}

}  // namespace gatedrill
