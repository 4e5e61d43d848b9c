// The registry's quota configuration: seed 003's quota_management YAML, the YAML subset's
// rejections with line numbers, and the effective quota per service.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/util/json.hpp"
#include "gateway/policy/quota_config.hpp"

namespace gatedrill {
namespace {

std::string seed_yaml() {
  std::ifstream in(std::filesystem::path(GATEDRILL_SOURCE_DIR) /
                   "tests/policy/seeds/seed003_quota_management.yaml");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(QuotaConfig, ReadsSeed003) {
  auto c = parse_quota_config(seed_yaml());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->backend, "redis");
  EXPECT_EQ(c->redis_connection, "redis://cache-store.internal:6379");
  EXPECT_EQ(c->defaults.requests_per_second, 500);
  EXPECT_EQ(c->defaults.burst_capacity, 1000);
  ASSERT_EQ(c->overrides.size(), 1u);
  auto pay = c->for_service("payment-gateway");
  EXPECT_EQ(pay.requests_per_second, 2000);
  EXPECT_EQ(pay.burst_capacity, 1000);  // inherited from the defaults
  EXPECT_EQ(c->for_service("orders").requests_per_second, 500);
}

TEST(QuotaConfig, TheFlattenedPrintIsRejectedWithALine) {
  // As the article prints it, without indentation: a duplicate top-level key.
  const char* flat =
      "quota_management:\nbackend: redis\ndefaults:\nrequests_per_second: 500\nburst_capacity: "
      "1000\n"
      "overrides:\n- service_id: \"payment-gateway\"\nrequests_per_second: 2000\n";
  auto c = parse_quota_config(flat);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "bad_yaml");
  EXPECT_NE(c.error().message.find("line 8: duplicate key 'requests_per_second'"),
            std::string::npos)
      << c.error().message;
}

TEST(QuotaConfig, YamlSubsetAndValidation) {
  auto v = parse_simple_yaml("a:\n  b: 1 # comment\n  c: 'x # y'\nl:\n  - 1\n  - two\n");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(to_json(*v), R"({"a":{"b":1,"c":"x # y"},"l":[1,"two"]})");
  EXPECT_NE(parse_simple_yaml("a: {b: 1}\n").error().message.find("line 1"), std::string::npos);
  EXPECT_NE(parse_simple_yaml("a:\n\tb: 1\n").error().message.find("line 2: tabs"),
            std::string::npos);
  EXPECT_NE(parse_simple_yaml("a: 1\n   b: 2\n").error().message.find("line 2"), std::string::npos);
  EXPECT_EQ(parse_quota_config("quota_management:\n  defaults:\n    requests_per_second: 0\n")
                .error()
                .code,
            "bad_quota");
  EXPECT_EQ(parse_quota_config("other: 1\n").error().code, "bad_quota");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  EXPECT_NE(parse_simple_yaml(deep).error().message.find("nesting too deep"), std::string::npos);
  EXPECT_EQ(parse_quota_config("quota_management:\n  defaults:\n    requests_per_second: 5\n  "
                               "overrides:\n    - requests_per_second: 1\n")
                .error()
                .code,
            "bad_quota");
}

}  // namespace
}  // namespace gatedrill
