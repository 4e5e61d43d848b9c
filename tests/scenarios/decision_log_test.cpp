// Decision-log tallies: per second of the load, per identity, denies with and without a policy
// version; broken lines skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "scenarios/decision_log.hpp"

namespace gatedrill {
namespace {

TEST(DecisionLog, TalliesDeniesWithTheirPolicyVersionPerSecondAndIdentity) {
  std::string path = ::testing::TempDir() + "decisions_" + std::to_string(getpid()) + ".jsonl";
  {
    std::ofstream out(path);
    out << R"({"time_ms":10100,"identity":"bob","status":403,"reason":"policy_denied","policy_version":"fnv:1"})"
        << "\n"
        << R"({"time_ms":10900,"identity":"bob","status":403,"reason":"policy_denied","policy_version":""})"
        << "\n"
        << R"({"time_ms":11200,"identity":"bob","status":200,"reason":"ok","policy_version":"fnv:1"})"
        << "\n"
        << R"({"time_ms":11300,"identity":"alice","status":403,"reason":"policy_denied","policy_version":"fnv:1"})"
        << "\n"
        << R"({"time_ms":11400,"identity":"alice","sta)"
        << "\n"  // cut by a crash
        << R"({"time_ms":9000,"identity":"bob","status":403,"policy_version":"fnv:0"})"
        << "\n";  // before the load
  }
  auto bob = read_decision_log(path, 10000, "bob", {});
  ASSERT_EQ(bob.size(), 2u);
  EXPECT_EQ(bob[0].decisions, 2);
  EXPECT_EQ(bob[0].denied, 2);
  EXPECT_EQ(bob[0].denied_versioned, 1);
  EXPECT_EQ(bob[1].denied, 0);
  // "" = everyone but the excluded identities.
  auto rest = read_decision_log(path, 10000, "", {"bob"});
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[1].denied_versioned, 1);
  EXPECT_TRUE(read_decision_log(path + ".missing", 0, "", {}).empty());
  unlink(path.c_str());
}

}  // namespace
}  // namespace gatedrill
