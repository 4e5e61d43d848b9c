#pragma once
// The TLS 1.3 record layer after the handshake (RFC 8446 section 5), what kernel TLS would do:
// OpenSSL runs the handshake, hands over the two application traffic secrets, and is freed;
// from then on records are protected and opened here. Per connection it holds the current
// secrets, keys, IVs and sequence numbers (about 250 bytes); the AEAD contexts are per thread,
// a few hundred keys each, so an idle connection holds no cipher state and a busy one mostly
// finds its key already scheduled.
//
// Covers TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256;
// KeyUpdate both ways (RFC 8446 4.6.3); alerts; the record size limits. Any other handshake
// message after the handshake (NewSessionTicket from a client, post-handshake authentication)
// is an unexpected_message, as is a handshake message split over records.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gatedrill::gateway {

inline constexpr size_t kTlsHeaderSize = 5;
inline constexpr size_t kTlsMaxPlaintext = 16384;                    // 2^14
inline constexpr size_t kTlsMaxCiphertext = kTlsMaxPlaintext + 256;  // record_overflow above
inline constexpr size_t kTlsTagSize = 16;
// What sealing `n` bytes of one content type adds: header, inner content type, tag.
inline constexpr size_t kTlsRecordOverhead = kTlsHeaderSize + 1 + kTlsTagSize;

// Alert descriptions used here (RFC 8446 section 6).
enum class TlsAlert : uint8_t {
  kCloseNotify = 0,
  kUnexpectedMessage = 10,
  kBadRecordMac = 20,
  kRecordOverflow = 22,
  kDecodeError = 50,
  kIllegalParameter = 47,
  kUserCanceled = 90,
};

// HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context. `hash_size` 32 (SHA-256) or
// 48 (SHA-384); out.size() <= hash_size. False when OpenSSL fails.
bool hkdf_expand_label(size_t hash_size, std::span<const uint8_t> secret, std::string_view label,
                       std::span<uint8_t> out);

// TLS connections (all listeners of the process) by the record layer they use after the
// handshake: own (this file) or OpenSSL's (TLS 1.2, --tls-records openssl, other suites).
struct TlsRecordCounts {
  uint64_t own = 0;
  uint64_t openssl = 0;
};
TlsRecordCounts tls_record_counts();
void count_tls_connection(bool own);

class Tls13Records {
 public:
  // One record opened by `open`.
  struct Opened {
    enum class Kind : uint8_t {
      kData,         // `size` bytes of application data at the output
      kNone,         // nothing for the reader (an empty record, a KeyUpdate handled)
      kCloseNotify,  // the peer's close_notify
      kPeerAlert,    // another alert from the peer: `alert` says which
      kFatal,        // a protocol error: send `alert`, then close
    };
    Kind kind = Kind::kNone;
    size_t size = 0;
    TlsAlert alert = TlsAlert::kCloseNotify;
  };

  // For an IANA TLS 1.3 suite id (0x1301..0x1303) and the two application traffic secrets
  // (the peer's: read; ours: write); nullopt for another suite or a secret of the wrong size.
  static std::optional<Tls13Records> create(uint16_t suite, std::span<const uint8_t> read_secret,
                                            std::span<const uint8_t> write_secret);

  // The size of a record's body (after the header) from its header; 0 when `header` is shorter
  // than a header.
  static size_t body_size(std::span<const uint8_t> header);

  // Opens one whole record (header + body) whose plaintext goes to `out` (at least body - 16
  // bytes; may be the body itself: in place). Handles alerts and KeyUpdate itself.
  Opened open(std::span<const uint8_t> record, uint8_t* out);

  // Seals `data` (at most kTlsMaxPlaintext bytes) as one record of inner `type` (23 data, 21
  // alert, 22 handshake) into `out` (data.size() + kTlsRecordOverhead bytes). False when the
  // write sequence is exhausted (the connection must close).
  bool seal(uint8_t type, std::span<const uint8_t> data, uint8_t* out);
  bool seal_alert(TlsAlert alert, uint8_t* out);  // 2 + kTlsRecordOverhead bytes

  // A KeyUpdate we owe the peer (it asked with update_requested): sealed before our next data.
  bool key_update_owed() const { return key_update_owed_; }
  // Seals our KeyUpdate (update_not_requested; 5 + kTlsRecordOverhead bytes) and moves to the
  // next write secret.
  bool seal_key_update(uint8_t* out);

  uint64_t read_sequence() const { return read_.sequence; }
  uint64_t write_sequence() const { return write_.sequence; }
  // Records the handshake already sent under the write key (NewSessionTicket messages).
  void set_write_sequence(uint64_t sequence) { write_.sequence = sequence; }
  void set_read_sequence(uint64_t sequence) { read_.sequence = sequence; }

  Tls13Records(const Tls13Records&) = default;
  Tls13Records& operator=(const Tls13Records&) = default;
  ~Tls13Records();

 private:
  enum class Aead : uint8_t { kAes128Gcm, kAes256Gcm, kChacha20Poly1305 };
  struct Direction {
    uint8_t secret[48];
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t sequence = 0;
    uint64_t key_id = 0;  // this key, process-wide: which thread cipher context holds it
  };
  Tls13Records() = default;
  bool derive(Direction& d) const;       // key and iv from d.secret
  bool next_secret(Direction& d) const;  // "traffic upd" (RFC 8446 7.2)
  void nonce(const Direction& d, uint8_t out[12]) const;
  Opened handshake(const uint8_t* data, size_t size);

  Direction read_{};
  Direction write_{};
  Aead aead_ = Aead::kAes128Gcm;
  uint8_t hash_size_ = 32;
  uint8_t key_size_ = 16;
  bool key_update_owed_ = false;
};

}  // namespace gatedrill::gateway
