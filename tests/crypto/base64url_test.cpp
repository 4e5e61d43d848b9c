#include "core/crypto/base64url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gatedrill {
namespace {

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode(std::string("\xfb\xff\xbf", 3)), "-_-_");
}

TEST(Base64Url, RoundTripsEveryLengthAndByteValue) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>((i * 73 + 11) & 0xFF));
    auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded.ok()) << "length " << bytes.size();
    EXPECT_EQ(*decoded, bytes);
  }
}

TEST(Base64Url, RejectsPadding) {
  auto r = base64url_decode("Zg==");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_base64url");
  EXPECT_FALSE(base64url_decode("Zm8=").ok());
}

TEST(Base64Url, RejectsCharactersOutsideTheAlphabet) {
  for (const char* text : {"Zm9+", "Zm9/", "Zm 9v", "Zm9v\n", "Zm9v."}) {
    EXPECT_FALSE(base64url_decode(text).ok()) << text;
  }
  EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)).ok());
  // In every position of the 8-character blocks, the single-quad tail and the 2-3 character end.
  const std::string good = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";  // 32 characters
  for (size_t length : {good.size(), good.size() - 4, good.size() - 1, good.size() - 2}) {
    for (size_t at = 0; at < length; ++at) {
      for (char c : {'=', '+', '/', ' ', '\0', '\xff', '.'}) {
        std::string text = good.substr(0, length);
        text[at] = c;
        auto r = base64url_decode(text);
        ASSERT_FALSE(r.ok()) << length << " " << at << " " << int(c);
        EXPECT_EQ(r.error().message, c == '=' ? "base64url must not be padded"
                                              : "character outside the base64url alphabet");
      }
    }
  }
}

TEST(Base64Url, RejectsImpossibleLengthsAndNonCanonicalTails) {
  EXPECT_FALSE(base64url_decode("Z").ok());
  EXPECT_FALSE(base64url_decode("Zm9vY").ok());
  EXPECT_TRUE(base64url_decode("Zg").ok());
  EXPECT_FALSE(base64url_decode("Zh").ok());   // same byte as "Zg" with stray low bits
  EXPECT_FALSE(base64url_decode("Zm9").ok());  // "Zm8" with stray low bits
}

TEST(Base64Url, DecodeToReusesTheBufferAndSizesItExactly) {
  std::string out = "previous contents, longer than anything decoded below";
  ASSERT_TRUE(base64url_decode_to("Zm9vYmFy", &out).ok());
  EXPECT_EQ(out, "foobar");
  ASSERT_TRUE(base64url_decode_to("Zg", &out).ok());
  EXPECT_EQ(out, "f");
  ASSERT_TRUE(base64url_decode_to("", &out).ok());
  EXPECT_EQ(out, "");
  auto bad = base64url_decode_to("Zg==", &out);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad_base64url");
}

}  // namespace
}  // namespace gatedrill
