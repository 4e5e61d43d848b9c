#pragma once
// The HTTP/1.1 field grammar the parsers we own share (RFC 9110 5.5 and 5.6.2): which bytes a
// token (a method, a header name) may hold, and field text (HTAB, SP, VCHAR, obs-text) checked
// 16 bytes per step with SSE2, else eight. Header-only: a few lines each, called on every request
// and response.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace gatedrill::h1 {

// tchar: the bytes of a token.
struct TokenTable {
  bool ok[256] = {};
  constexpr TokenTable() {
    for (int c = '0'; c <= '9'; ++c) ok[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) ok[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) ok[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) ok[static_cast<unsigned char>(c)] = true;
  }
};
inline constexpr TokenTable kTokenTable;

constexpr bool is_tchar(char c) {
  return kTokenTable.ok[static_cast<unsigned char>(c)];
}

constexpr bool is_token(std::string_view s) {
  for (char c : s)
    if (!is_tchar(c)) return false;
  return !s.empty();
}

inline uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Whether one of eight bytes is a control byte (< 0x20, HTAB included, or 0x7f). Exact: bytes
// of obs-text (>= 0x80) never count.
constexpr bool has_control_byte(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t below_space = (x - 0x20 * kOnes) & ~x & kHigh;
  const uint64_t del = x ^ (0x7f * kOnes);
  const uint64_t is_del = (del - kOnes) & ~del & kHigh;
  return (below_space | is_del) != 0;
}

constexpr bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && u != '\t') || u == 0x7f;
}

#ifdef __SSE2__
// One bit per byte of the 16 at p that is at most `limit` (unsigned: min(x, limit) == x), or
// with `also`, one that equals it.
inline __m128i at_most16(__m128i x, char limit) {
  return _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(limit)), x);
}
inline int mask16_at_most(const char* p, char limit) {
  return _mm_movemask_epi8(at_most16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), limit));
}
inline int mask16_at_most(const char* p, char limit, char also) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm_movemask_epi8(
      _mm_or_si128(at_most16(x, limit), _mm_cmpeq_epi8(x, _mm_set1_epi8(also))));
}
#endif

// The index of the first control byte other than HTAB in s from `from` on, or s.size(): a
// block of 16 (SSE2) or 8 bytes without any passes at once, one with one is looked at byte by
// byte. A Bearer token is ~800 bytes of field value.
inline size_t find_control(std::string_view s, size_t from = 0) {
  size_t i = from;
#ifdef __SSE2__
  for (; i + 16 <= s.size(); i += 16) {
    if (mask16_at_most(s.data() + i, 0x1f, 0x7f) == 0) continue;
    for (size_t k = i; k < i + 16; ++k)
      if (is_control(s[k])) return k;
  }
#endif
  for (; i + 8 <= s.size(); i += 8) {
    if (!has_control_byte(load8(s.data() + i))) continue;
    for (size_t k = i; k < i + 8; ++k)
      if (is_control(s[k])) return k;
  }
  for (; i < s.size(); ++i)
    if (is_control(s[i])) return i;
  return s.size();
}

// Field values and reason phrases: no CR, LF, NUL or other control byte but HTAB.
inline bool is_field_text(std::string_view s) {
  return find_control(s) == s.size();
}

}  // namespace gatedrill::h1
