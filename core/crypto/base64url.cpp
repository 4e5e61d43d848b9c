#include "core/crypto/base64url.hpp"

#include <array>
#include <cstdint>

namespace gatedrill {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// -1 for characters outside the base64url alphabet (including '=', '+', '/').
constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  std::string out;
  auto decoded = base64url_decode_to(text, &out);
  if (!decoded) return decoded.error();
  return out;
}

Result<void> base64url_decode_to(std::string_view text, std::string* out) {
  // A length of 1 mod 4 cannot come from any byte string.
  const size_t rest = text.size() % 4;
  if (rest == 1) return make_error("bad_base64url", "impossible base64url length");
  auto bad_char = [](char c) {
    return make_error("bad_base64url", c == '=' ? "base64url must not be padded"
                                                : "character outside the base64url alphabet");
  };
  // Sized once and written in place: this runs on every uncached token (three segments).
  out->resize(text.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1));
  char* o = out->data();
  const size_t full = text.size() - rest;
  for (size_t i = 0; i < full; i += 4) {
    const int a = kDecode[static_cast<unsigned char>(text[i])];
    const int b = kDecode[static_cast<unsigned char>(text[i + 1])];
    const int c = kDecode[static_cast<unsigned char>(text[i + 2])];
    const int d = kDecode[static_cast<unsigned char>(text[i + 3])];
    if ((a | b | c | d) < 0) {
      for (size_t j = i; j < i + 4; ++j)
        if (kDecode[static_cast<unsigned char>(text[j])] < 0) return bad_char(text[j]);
    }
    const uint32_t n = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *o++ = static_cast<char>(n >> 16);
    *o++ = static_cast<char>((n >> 8) & 0xFF);
    *o++ = static_cast<char>(n & 0xFF);
  }
  if (rest > 0) {
    uint32_t n = 0;
    for (size_t j = full; j < text.size(); ++j) {
      const int v = kDecode[static_cast<unsigned char>(text[j])];
      if (v < 0) return bad_char(text[j]);
      n = (n << 6) | static_cast<uint32_t>(v);
    }
    // Leftover bits must be zero, so every byte string has exactly one encoding.
    if (rest == 2) {  // 12 bits: one byte and 4 spare bits
      if ((n & 0xF) != 0)
        return make_error("bad_base64url", "non-canonical base64url (trailing bits set)");
      *o++ = static_cast<char>(n >> 4);
    } else {  // 18 bits: two bytes and 2 spare bits
      if ((n & 0x3) != 0)
        return make_error("bad_base64url", "non-canonical base64url (trailing bits set)");
      *o++ = static_cast<char>(n >> 10);
      *o++ = static_cast<char>((n >> 2) & 0xFF);
    }
  }
  return {};
}

}  // namespace gatedrill
