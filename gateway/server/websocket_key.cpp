#include "gateway/server/websocket_key.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstddef>

namespace gatedrill::gateway {

namespace {

std::string base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

std::string make_websocket_key() {
  // Not a secret (RFC 6455 section 10.3 asks only for a fresh value): should the DRBG fail,
  // the zeroed nonce still gets the handshake through.
  unsigned char nonce[16] = {};
  (void)RAND_bytes(nonce, sizeof nonce);
  return base64(nonce, sizeof nonce);
}

std::string websocket_accept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string joined(key);
  joined += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  return base64(digest, sizeof digest);
}

}  // namespace gatedrill::gateway
