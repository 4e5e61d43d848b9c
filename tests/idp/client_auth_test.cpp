#include "idp-sim/client_auth.hpp"

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

TEST(ParseForm, DecodesPlusAndPercentEscapes) {
  auto form = parse_form("grant_type=client_credentials&scope=a+b%20c&client_secret=p%26ss%3D1&empty=&flag");
  ASSERT_TRUE(form.ok()) << form.error().message;
  EXPECT_EQ(form->at("grant_type"), "client_credentials");
  EXPECT_EQ(form->at("scope"), "a b c");
  EXPECT_EQ(form->at("client_secret"), "p&ss=1");
  EXPECT_EQ(form->at("empty"), "");
  EXPECT_EQ(form->at("flag"), "");
  EXPECT_EQ(form->size(), 5u);
}

TEST(ParseForm, RejectsRepeatedParametersAndBadEscapes) {
  auto twice = parse_form("grant_type=client_credentials&grant_type=password");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "invalid_request");
  EXPECT_FALSE(parse_form("a=%zz").ok());
  EXPECT_FALSE(parse_form("a=%4").ok());
  EXPECT_FALSE(parse_form("a=50%").ok());
  EXPECT_TRUE(parse_form("").ok());
}

TEST(BasicAuth, RoundTripsCredentialsWithSpecialCharacters) {
  for (auto [id, secret] : {std::pair<std::string, std::string>{"gatedrill-loadgen", "s3cret"},
                            {"id:with:colons", "p@ss word/+="},
                            {"unicode-\xc3\xa9", ""}}) {
    auto parsed = parse_basic_auth(basic_auth_header(id, secret));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_TRUE(parsed->has_value());
    EXPECT_EQ((*parsed)->id, id);
    EXPECT_EQ((*parsed)->secret, secret);
  }
}

TEST(BasicAuth, ReadsAPlainClientHeader) {
  // "alice:wonderland" as curl -u sends it.
  auto parsed = parse_basic_auth("Basic YWxpY2U6d29uZGVybGFuZA==");
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ((*parsed)->id, "alice");
  EXPECT_EQ((*parsed)->secret, "wonderland");
  EXPECT_TRUE(parse_basic_auth("basic YWxpY2U6d29uZGVybGFuZA==").ok());
}

TEST(BasicAuth, OtherSchemesAreNotBasic) {
  for (const char* header : {"", "Bearer abc", "Digest x", "Basicx"}) {
    auto parsed = parse_basic_auth(header);
    ASSERT_TRUE(parsed.ok()) << header;
    EXPECT_FALSE(parsed->has_value()) << header;
  }
}

TEST(BasicAuth, RejectsUndecodableCredentials) {
  for (const char* header : {"Basic !!!!", "Basic YWxpY2U", "Basic YWxpY2U=", "Basic "}) {
    auto parsed = parse_basic_auth(header);
    ASSERT_FALSE(parsed.ok()) << header;
    EXPECT_EQ(parsed.error().code, "invalid_client");
  }
}

}  // namespace
}  // namespace gatedrill
