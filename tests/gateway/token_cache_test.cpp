#include "gateway/authn/token_cache.hpp"

#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

VerifiedToken subject(std::string s) {
  VerifiedToken t;
  t.subject = std::move(s);
  t.exp = 100;
  return t;
}

TEST(TokenCache, FindsWhatWasInserted) {
  TokenCache cache(4);
  EXPECT_FALSE(cache.find("a"));
  cache.insert("a", subject("alice"));
  auto hit = cache.find("a");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->subject, "alice");
  EXPECT_EQ(hit->exp, 100);
}

TEST(TokenCache, EvictsTheLeastRecentlyUsed) {
  TokenCache cache(2);
  cache.insert("a", subject("1"));
  cache.insert("b", subject("2"));
  ASSERT_TRUE(cache.find("a"));  // b is now the oldest
  cache.insert("c", subject("3"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.find("a"));
  EXPECT_FALSE(cache.find("b"));
  EXPECT_TRUE(cache.find("c"));
}

TEST(TokenCache, ReinsertReplacesAndEraseRemoves) {
  TokenCache cache(2);
  cache.insert("a", subject("old"));
  cache.insert("a", subject("new"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.find("a")->subject, "new");
  cache.erase("a");
  EXPECT_FALSE(cache.find("a"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, StaysBoundedUnderManyTokens) {
  TokenCache cache(100);
  for (int i = 0; i < 10000; ++i) cache.insert("t" + std::to_string(i), subject("s"));
  EXPECT_EQ(cache.size(), 100u);
  EXPECT_TRUE(cache.find("t9999"));
  EXPECT_FALSE(cache.find("t0"));
}

TEST(TokenCache, ZeroCapacityCachesNothing) {
  TokenCache cache(0);
  cache.insert("a", subject("s"));
  EXPECT_FALSE(cache.find("a"));
}

}  // namespace
}  // namespace gatedrill::gateway
