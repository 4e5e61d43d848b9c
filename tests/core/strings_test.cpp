#include "core/util/strings.hpp"

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

using std::chrono::nanoseconds;

int64_t ns(std::string_view text) {
  auto r = parse_duration(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message);
  return r ? r->count() : -1;
}

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(ns("250us"), 250'000);
  EXPECT_EQ(ns("10ms"), 10'000'000);
  EXPECT_EQ(ns("1.5s"), 1'500'000'000);
  EXPECT_EQ(ns("5m"), 300'000'000'000);
  EXPECT_EQ(ns("2h"), 7'200'000'000'000);
  EXPECT_EQ(ns("100ns"), 100);
  EXPECT_EQ(ns("3"), 3'000'000'000);  // a bare number is seconds
  EXPECT_EQ(ns("+5m"), 300'000'000'000);
  EXPECT_EQ(ns("-300s"), -300'000'000'000);
  EXPECT_EQ(ns("  20ms "), 20'000'000);
}

TEST(ParseDuration, RejectsBadInputNamingIt) {
  for (std::string_view bad : {"", "ms", "abc", "10 parsecs", "1e30s", "nan"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "bad_duration");
    EXPECT_NE(r.error().message.find(std::string(bad)), std::string::npos) << r.error().message;
  }
}

TEST(ParseSize, AcceptsBinaryMultiples) {
  EXPECT_EQ(*parse_size("512"), 512);
  EXPECT_EQ(*parse_size("4k"), 4096);
  EXPECT_EQ(*parse_size("4KiB"), 4096);
  EXPECT_EQ(*parse_size("1M"), 1 << 20);
  EXPECT_EQ(*parse_size("1MiB"), 1 << 20);
  EXPECT_EQ(*parse_size("2G"), int64_t{2} << 30);
  EXPECT_EQ(*parse_size("1.5k"), 1536);
}

TEST(ParseSize, RejectsBadInput) {
  for (std::string_view bad : {"", "k", "-1", "4q", "lots"}) {
    auto r = parse_size(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "bad_size");
  }
}

TEST(FormatDuration, PicksAReadableUnit) {
  EXPECT_EQ(format_duration(nanoseconds(850)), "850ns");
  EXPECT_EQ(format_duration(nanoseconds(850'000)), "850us");
  EXPECT_EQ(format_duration(nanoseconds(1'200'000)), "1.20ms");
  EXPECT_EQ(format_duration(nanoseconds(2'000'000'000)), "2.00s");
}

TEST(Strings, TrimSplitAndCompare) {
  EXPECT_EQ(trim("  a b \t\n"), "a b");
  auto parts = split("a,,b", ',');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "");
  EXPECT_EQ(parts[2], "b");
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("abc", "abd"));
  EXPECT_EQ(to_lower("MiXeD"), "mixed");
}

}  // namespace
}  // namespace gatedrill
