#include "gateway/server/tls13_records.hpp"

#include <atomic>
#include <cstring>
#include <limits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace gatedrill::gateway {
namespace {

constexpr uint8_t kContentAlert = 21;
constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kContentData = 23;
constexpr uint8_t kHandshakeKeyUpdate = 24;

const EVP_MD* digest_for(size_t hash_size) {
  return hash_size == 48 ? EVP_sha384() : EVP_sha256();
}

// The AEAD contexts of this thread: per cipher and direction a small direct-mapped set, each
// context holding the key it was last given. A connection whose key is still in its slot only
// sets the record's nonce; another one re-keys the slot (~2,000 instructions: the key schedule
// and GHASH table behind EVP). An idle connection holds no cipher state (10k idle connections
// would otherwise hold ~850 bytes per context each), and the connections a worker is serving
// right now mostly find their keys in place.
constexpr size_t kKeySlots = 256;

std::atomic<uint64_t> next_key_id{1};  // 0: an empty slot

class ThreadCiphers {
 public:
  ~ThreadCiphers() {
    for (auto& by_direction : slots_)
      for (auto& slots : by_direction)
        for (Slot& slot : slots) EVP_CIPHER_CTX_free(slot.ctx);
  }

  // A context of `aead` (0..2 as Tls13Records::Aead) holding `key` (known by `key_id`), ready
  // for a nonce; nullptr when OpenSSL fails.
  EVP_CIPHER_CTX* get(int aead, bool encrypt, uint64_t key_id, const uint8_t* key) {
    Slot& slot = slots_[aead][encrypt ? 1 : 0][key_id % kKeySlots];
    if (slot.key_id == key_id) return slot.ctx;
    static EVP_CIPHER* const ciphers[3] = {
        EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr),
        EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr),
        EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr),
    };
    if (ciphers[aead] == nullptr) return nullptr;
    if (slot.ctx == nullptr) slot.ctx = EVP_CIPHER_CTX_new();
    slot.key_id = 0;
    if (slot.ctx == nullptr ||
        EVP_CipherInit_ex(slot.ctx, ciphers[aead], nullptr, key, nullptr, encrypt ? 1 : 0) != 1)
      return nullptr;
    slot.key_id = key_id;
    return slot.ctx;
  }

  // A key that is no longer used leaves no schedule behind in this thread's slot.
  void forget(int aead, bool encrypt, uint64_t key_id) {
    Slot& slot = slots_[aead][encrypt ? 1 : 0][key_id % kKeySlots];
    if (slot.key_id != key_id || slot.ctx == nullptr) return;
    EVP_CIPHER_CTX_reset(slot.ctx);  // frees the cipher's key material
    slot.key_id = 0;
  }

 private:
  struct Slot {
    EVP_CIPHER_CTX* ctx = nullptr;
    uint64_t key_id = 0;
  };
  Slot slots_[3][2][kKeySlots] = {};
};

ThreadCiphers& thread_ciphers() {
  thread_local ThreadCiphers ciphers;
  return ciphers;
}

void put_header(uint8_t* out, size_t body) {
  out[0] = kContentData;  // the outer type of every protected record
  out[1] = 0x03;
  out[2] = 0x03;
  out[3] = static_cast<uint8_t>(body >> 8);
  out[4] = static_cast<uint8_t>(body);
}

Tls13Records::Opened fatal(TlsAlert alert) {
  return {Tls13Records::Opened::Kind::kFatal, 0, alert};
}

std::atomic<uint64_t> own_connections{0};
std::atomic<uint64_t> openssl_connections{0};

}  // namespace

TlsRecordCounts tls_record_counts() {
  return {own_connections.load(std::memory_order_relaxed),
          openssl_connections.load(std::memory_order_relaxed)};
}

void count_tls_connection(bool own) {
  (own ? own_connections : openssl_connections).fetch_add(1, std::memory_order_relaxed);
}

bool hkdf_expand_label(size_t hash_size, std::span<const uint8_t> secret, std::string_view label,
                       std::span<uint8_t> out) {
  if (out.size() > hash_size || label.size() > 200) return false;
  // HkdfLabel: uint16 length, opaque label<7..255> ("tls13 " + label), opaque context<0..255>
  // (empty); then HKDF-Expand's T(1) = HMAC(secret, info || 0x01), enough for one hash size.
  uint8_t info[2 + 1 + 6 + 200 + 1 + 1];
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(out.size() >> 8);
  info[n++] = static_cast<uint8_t>(out.size());
  info[n++] = static_cast<uint8_t>(6 + label.size());
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // context
  info[n++] = 1;  // HKDF-Expand's counter
  uint8_t t[EVP_MAX_MD_SIZE];
  unsigned t_size = 0;
  if (HMAC(digest_for(hash_size), secret.data(), static_cast<int>(secret.size()), info, n, t,
           &t_size) == nullptr ||
      t_size != hash_size)
    return false;
  std::memcpy(out.data(), t, out.size());
  OPENSSL_cleanse(t, sizeof t);
  return true;
}

std::optional<Tls13Records> Tls13Records::create(uint16_t suite,
                                                 std::span<const uint8_t> read_secret,
                                                 std::span<const uint8_t> write_secret) {
  Tls13Records r;
  switch (suite) {
    case 0x1301:
      r.aead_ = Aead::kAes128Gcm;
      r.hash_size_ = 32;
      r.key_size_ = 16;
      break;
    case 0x1302:
      r.aead_ = Aead::kAes256Gcm;
      r.hash_size_ = 48;
      r.key_size_ = 32;
      break;
    case 0x1303:
      r.aead_ = Aead::kChacha20Poly1305;
      r.hash_size_ = 32;
      r.key_size_ = 32;
      break;
    default:
      return std::nullopt;
  }
  if (read_secret.size() != r.hash_size_ || write_secret.size() != r.hash_size_)
    return std::nullopt;
  std::memcpy(r.read_.secret, read_secret.data(), r.hash_size_);
  std::memcpy(r.write_.secret, write_secret.data(), r.hash_size_);
  if (!r.derive(r.read_) || !r.derive(r.write_)) return std::nullopt;
  return r;
}

Tls13Records::~Tls13Records() {
  thread_ciphers().forget(static_cast<int>(aead_), false, read_.key_id);
  thread_ciphers().forget(static_cast<int>(aead_), true, write_.key_id);
  OPENSSL_cleanse(&read_, sizeof read_);
  OPENSSL_cleanse(&write_, sizeof write_);
}

bool Tls13Records::derive(Direction& d) const {
  const std::span<const uint8_t> secret(d.secret, hash_size_);
  d.key_id = next_key_id.fetch_add(1, std::memory_order_relaxed);
  return hkdf_expand_label(hash_size_, secret, "key", std::span<uint8_t>(d.key, key_size_)) &&
         hkdf_expand_label(hash_size_, secret, "iv", std::span<uint8_t>(d.iv, 12));
}

bool Tls13Records::next_secret(Direction& d) const {
  uint8_t next[48];
  if (!hkdf_expand_label(hash_size_, std::span<const uint8_t>(d.secret, hash_size_), "traffic upd",
                         std::span<uint8_t>(next, hash_size_)))
    return false;
  std::memcpy(d.secret, next, hash_size_);
  OPENSSL_cleanse(next, sizeof next);
  thread_ciphers().forget(static_cast<int>(aead_), &d == &write_, d.key_id);
  d.sequence = 0;
  return derive(d);
}

void Tls13Records::nonce(const Direction& d, uint8_t out[12]) const {
  std::memcpy(out, d.iv, 12);
  for (int i = 0; i < 8; ++i) out[4 + i] ^= static_cast<uint8_t>(d.sequence >> (56 - 8 * i));
}

size_t Tls13Records::body_size(std::span<const uint8_t> header) {
  if (header.size() < kTlsHeaderSize) return 0;
  return (static_cast<size_t>(header[3]) << 8) | header[4];
}

bool Tls13Records::seal(uint8_t type, std::span<const uint8_t> data, uint8_t* out) {
  if (data.size() > kTlsMaxPlaintext) return false;
  if (write_.sequence == std::numeric_limits<uint64_t>::max()) return false;  // never wraps
  EVP_CIPHER_CTX* ctx =
      thread_ciphers().get(static_cast<int>(aead_), true, write_.key_id, write_.key);
  if (ctx == nullptr) return false;
  put_header(out, data.size() + 1 + kTlsTagSize);
  uint8_t iv[12];
  nonce(write_, iv);
  int n = 0;
  uint8_t* body = out + kTlsHeaderSize;
  const bool ok =
      EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &n, out, kTlsHeaderSize) == 1 &&  // additional data
      (data.empty() ||
       EVP_EncryptUpdate(ctx, body, &n, data.data(), static_cast<int>(data.size())) == 1) &&
      EVP_EncryptUpdate(ctx, body + data.size(), &n, &type, 1) == 1 &&
      EVP_EncryptFinal_ex(ctx, body + data.size() + 1, &n) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTlsTagSize, body + data.size() + 1) == 1;
  if (!ok) return false;
  ++write_.sequence;
  return true;
}

bool Tls13Records::seal_alert(TlsAlert alert, uint8_t* out) {
  // close_notify is a warning (1); every other alert we send is fatal (2).
  const uint8_t body[2] = {static_cast<uint8_t>(alert == TlsAlert::kCloseNotify ? 1 : 2),
                           static_cast<uint8_t>(alert)};
  return seal(kContentAlert, body, out);
}

bool Tls13Records::seal_key_update(uint8_t* out) {
  const uint8_t message[5] = {kHandshakeKeyUpdate, 0, 0, 1, 0};  // update_not_requested
  if (!seal(kContentHandshake, message, out) || !next_secret(write_)) return false;
  key_update_owed_ = false;
  return true;
}

Tls13Records::Opened Tls13Records::open(std::span<const uint8_t> record, uint8_t* out) {
  if (record.size() < kTlsHeaderSize) return fatal(TlsAlert::kDecodeError);
  const size_t body = body_size(record);
  // Every record after the handshake is protected: a plaintext alert or change_cipher_spec
  // here is unexpected (RFC 8446 5).
  if (record[0] != kContentData) return fatal(TlsAlert::kUnexpectedMessage);
  if (body > kTlsMaxCiphertext) return fatal(TlsAlert::kRecordOverflow);
  if (record.size() != kTlsHeaderSize + body || body < 1 + kTlsTagSize)
    return fatal(TlsAlert::kBadRecordMac);
  if (read_.sequence == std::numeric_limits<uint64_t>::max())
    return fatal(TlsAlert::kUnexpectedMessage);  // never wraps: close
  EVP_CIPHER_CTX* ctx =
      thread_ciphers().get(static_cast<int>(aead_), false, read_.key_id, read_.key);
  if (ctx == nullptr) return fatal(TlsAlert::kBadRecordMac);
  uint8_t iv[12];
  nonce(read_, iv);
  const size_t sealed = body - kTlsTagSize;
  const uint8_t* in = record.data() + kTlsHeaderSize;
  int n = 0;
  const bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) == 1 &&
                  EVP_DecryptUpdate(ctx, nullptr, &n, record.data(), kTlsHeaderSize) == 1 &&
                  EVP_DecryptUpdate(ctx, out, &n, in, static_cast<int>(sealed)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTlsTagSize,
                                      const_cast<uint8_t*>(in + sealed)) == 1 &&
                  EVP_DecryptFinal_ex(ctx, out + sealed, &n) == 1;
  if (!ok) return fatal(TlsAlert::kBadRecordMac);
  ++read_.sequence;
  // The inner content type is the last non-zero byte; zeros after it are padding.
  size_t size = sealed;
  while (size > 0 && out[size - 1] == 0) --size;
  if (size == 0) return fatal(TlsAlert::kUnexpectedMessage);
  const uint8_t type = out[--size];
  if (size > kTlsMaxPlaintext) return fatal(TlsAlert::kRecordOverflow);
  switch (type) {
    case kContentData:
      return {size == 0 ? Opened::Kind::kNone : Opened::Kind::kData, size, TlsAlert::kCloseNotify};
    case kContentAlert: {
      if (size != 2) return fatal(TlsAlert::kDecodeError);
      const auto alert = static_cast<TlsAlert>(out[1]);
      if (alert == TlsAlert::kCloseNotify) return {Opened::Kind::kCloseNotify, 0, alert};
      if (alert == TlsAlert::kUserCanceled) return {};  // a close_notify follows
      return {Opened::Kind::kPeerAlert, 0, alert};
    }
    case kContentHandshake:
      return handshake(out, size);
    default:
      return fatal(TlsAlert::kUnexpectedMessage);
  }
}

Tls13Records::Opened Tls13Records::handshake(const uint8_t* data, size_t size) {
  // Only KeyUpdate is expected after the handshake; a message must not span records here.
  if (size < 4) return fatal(TlsAlert::kUnexpectedMessage);
  const size_t length = (static_cast<size_t>(data[1]) << 16) | (data[2] << 8) | data[3];
  if (data[0] != kHandshakeKeyUpdate || 4 + length != size)
    return fatal(TlsAlert::kUnexpectedMessage);
  if (length != 1) return fatal(TlsAlert::kDecodeError);
  if (data[4] > 1) return fatal(TlsAlert::kIllegalParameter);
  if (!next_secret(read_)) return fatal(TlsAlert::kUnexpectedMessage);
  if (data[4] == 1) key_update_owed_ = true;  // update_requested: ours before our next data
  return {};
}

}  // namespace gatedrill::gateway
