#include "core/crypto/base64url.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

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

// The same per position in a quad, shifted into place, so four characters become 24 bits with
// four loads and three ORs; an invalid character sets bit 24 (kInvalid), so one test per quad.
constexpr uint32_t kInvalid = 1u << 24;
constexpr std::array<std::array<uint32_t, 256>, 4> make_quad_tables() {
  std::array<std::array<uint32_t, 256>, 4> tables{};
  for (int position = 0; position < 4; ++position) {
    for (int c = 0; c < 256; ++c) {
      const int v = kDecode[static_cast<size_t>(c)];
      tables[static_cast<size_t>(position)][static_cast<size_t>(c)] =
          v < 0 ? kInvalid : static_cast<uint32_t>(v) << (18 - 6 * position);
    }
  }
  return tables;
}
constexpr auto kQuad = make_quad_tables();

uint32_t decode_quad(const unsigned char* in) {
  return kQuad[0][in[0]] | kQuad[1][in[1]] | kQuad[2][in[2]] | kQuad[3][in[3]];
}

// The 8 bytes of `word`, most significant first.
void store_big_endian(uint64_t word, char* out) {
  if constexpr (std::endian::native == std::endian::little) word = __builtin_bswap64(word);
  std::memcpy(out, &word, sizeof(word));
}

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
  // Sized once and written in place: this runs on every uncached token (three segments). Two
  // spare bytes let eight characters be stored as one 8-byte word holding their 6 bytes (the
  // spare bytes are overwritten by what follows, or dropped by the final resize).
  const size_t decoded_size = text.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1);
  out->resize(decoded_size + 2);
  char* o = out->data();
  const size_t full = text.size() - rest;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto first_bad = [&](size_t from) {
    size_t j = from;
    while (kDecode[in[j]] >= 0) ++j;
    return bad_char(text[j]);
  };
  size_t i = 0;
  for (; i + 8 <= full; i += 8) {
    const uint32_t a = decode_quad(in + i);
    const uint32_t b = decode_quad(in + i + 4);
    if ((a | b) & kInvalid) return first_bad(i);
    const uint64_t bits = (static_cast<uint64_t>(a) << 24) | b;  // 48 bits, first byte highest
    store_big_endian(bits << 16, o);
    o += 6;
  }
  if (i < full) {  // one quad left
    const uint32_t a = decode_quad(in + i);
    if (a & kInvalid) return first_bad(i);
    const uint32_t word = a << 8;  // 3 bytes and a spare one (4 bytes: within the spare 2)
    if constexpr (std::endian::native == std::endian::little) {
      const uint32_t swapped = __builtin_bswap32(word);
      std::memcpy(o, &swapped, sizeof(swapped));
    } else {
      std::memcpy(o, &word, sizeof(word));
    }
    o += 3;
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
  out->resize(decoded_size);
  return {};
}

}  // namespace gatedrill
