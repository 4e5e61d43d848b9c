#include "gateway/authn/token_cache.hpp"

#include <list>
#include <random>
#include <string>
#include <vector>

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

// Random finds, inserts and erases against a plain LRU (std::list), with tokens that share
// their last 32 bytes (the same hash: long probe runs, removals from their middle) mixed with
// distinct ones, through a small cache so eviction runs all the time.
TEST(TokenCache, BehavesAsAPlainLruUnderRandomOperations) {
  const std::string tail(32, 'z');
  std::vector<std::string> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back("same-tail-" + std::to_string(i) + tail);
  for (int i = 0; i < 40; ++i) tokens.push_back("distinct-" + std::to_string(i * 7919));
  tokens.push_back("");
  for (size_t capacity : {1u, 7u, 24u}) {
    TokenCache cache(capacity);
    std::list<std::pair<std::string, std::string>> model;  // most recent first
    auto model_find = [&](const std::string& token) {
      for (auto it = model.begin(); it != model.end(); ++it)
        if (it->first == token) return it;
      return model.end();
    };
    std::mt19937 random(12345);
    for (int step = 0; step < 20000; ++step) {
      const std::string& token = tokens[random() % tokens.size()];
      const int op = static_cast<int>(random() % 3);
      auto it = model_find(token);
      if (op == 0) {
        auto hit = cache.find(token);
        ASSERT_EQ(hit.has_value(), it != model.end()) << step << " " << token;
        if (hit) {
          EXPECT_EQ(hit->subject, it->second);
          model.splice(model.begin(), model, it);
        }
      } else if (op == 1) {
        const std::string value = "v" + std::to_string(step);
        cache.insert(token, subject(value));
        if (it != model.end()) {
          it->second = value;
          model.splice(model.begin(), model, it);
        } else {
          if (model.size() >= capacity) model.pop_back();
          model.emplace_front(token, value);
        }
      } else {
        cache.erase(token);
        if (it != model.end()) model.erase(it);
      }
      ASSERT_EQ(cache.size(), model.size()) << step;
    }
    for (const auto& token : tokens)
      EXPECT_EQ(cache.find(token).has_value(), model_find(token) != model.end());
  }
}

}  // namespace
}  // namespace gatedrill::gateway
