#include "core/admin/faults.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/json.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

// A fault type that records what was applied and cleared, and validates one param.
struct Recorder {
  std::vector<std::string> log;

  FaultRegistry::Apply latency() {
    return [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
      auto ms = json_int(params, "latency_ms");
      if (!ms) return ms.error();
      if (!ms->has_value() || **ms < 0) return make_error("bad_params", "latency_ms must be >= 0");
      log.push_back("apply latency " + std::to_string(**ms));
      return FaultRegistry::Clear(
          [this, v = **ms] { log.push_back("clear latency " + std::to_string(v)); });
    };
  }
  FaultRegistry::Apply down() {
    return [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
      log.push_back("apply down");
      return FaultRegistry::Clear([this] { log.push_back("clear down"); });
    };
  }
};

boost::json::object params(std::string_view json) {
  return parse_json_object(json).value();
}

TEST(FaultRegistry, AddListRemove) {
  ManualTimeSource time;
  Recorder recorder;
  FaultRegistry faults(time);
  faults.register_type("latency", recorder.latency());
  faults.register_type("down", recorder.down());

  auto first = faults.add("latency", params(R"({"latency_ms": 250})"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, "f1");
  time.advance(1500ms);
  auto second = faults.add("down", {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "f2");
  EXPECT_TRUE(faults.active("latency"));
  EXPECT_TRUE(faults.active("down"));

  const int64_t start_ms = ManualTimeSource().wall_ms();
  auto expected = parse_json(R"({"faults": [
      {"id": "f1", "type": "latency", "params": {"latency_ms": 250}, "since_ms": )" +
                             std::to_string(start_ms) + R"(},
      {"id": "f2", "type": "down", "params": {}, "since_ms": )" +
                             std::to_string(start_ms + 1500) + "}]}");
  EXPECT_EQ(faults.list(), expected.value()) << to_json(faults.list());

  ASSERT_TRUE(faults.remove("f1").ok());
  EXPECT_FALSE(faults.active("latency"));
  EXPECT_EQ(recorder.log.back(), "clear latency 250");
  auto again = faults.remove("f1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "no_such_fault");
  EXPECT_EQ(faults.list().as_object().at("faults").as_array().size(), 1u);
}

TEST(FaultRegistry, UnknownTypeListsTheKnownOnes) {
  ManualTimeSource time;
  Recorder recorder;
  FaultRegistry faults(time);
  faults.register_type("latency", recorder.latency());
  faults.register_type("down", recorder.down());
  auto added = faults.add("explode", {});
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, "unknown_fault_type");
  EXPECT_NE(added.error().message.find("explode"), std::string::npos);
  EXPECT_NE(added.error().message.find("down, latency"), std::string::npos)
      << added.error().message;
  EXPECT_TRUE(recorder.log.empty());
}

TEST(FaultRegistry, BadParamsAreRejectedAndNothingIsActive) {
  ManualTimeSource time;
  Recorder recorder;
  FaultRegistry faults(time);
  faults.register_type("latency", recorder.latency());
  auto negative = faults.add("latency", params(R"({"latency_ms": -1})"));
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, "bad_params");
  EXPECT_EQ(negative.error().message, "latency_ms must be >= 0");
  auto wrong_type = faults.add("latency", params(R"({"latency_ms": "fast"})"));
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().code, "bad_params");
  EXPECT_FALSE(faults.active("latency"));
  // Failed adds do not use up ids.
  EXPECT_EQ(faults.add("latency", params(R"({"latency_ms": 1})")).value(), "f1");
}

TEST(FaultRegistry, ClearUndoesEverythingNewestFirst) {
  ManualTimeSource time;
  Recorder recorder;
  FaultRegistry faults(time);
  faults.register_type("latency", recorder.latency());
  for (int ms : {1, 2, 3}) {
    ASSERT_TRUE(faults.add("latency", params("{\"latency_ms\": " + std::to_string(ms) + "}")).ok());
  }
  faults.clear();
  EXPECT_FALSE(faults.active("latency"));
  ASSERT_EQ(recorder.log.size(), 6u);
  EXPECT_EQ(recorder.log[3], "clear latency 3");
  EXPECT_EQ(recorder.log[4], "clear latency 2");
  EXPECT_EQ(recorder.log[5], "clear latency 1");
  EXPECT_EQ(faults.add("latency", params(R"({"latency_ms": 4})")).value(),
            "f4");  // ids never reused
}

TEST(FaultRegistry, DestructorClearsActiveFaults) {
  ManualTimeSource time;
  Recorder recorder;
  {
    FaultRegistry faults(time);
    faults.register_type("down", recorder.down());
    ASSERT_TRUE(faults.add("down", {}).ok());
  }
  ASSERT_EQ(recorder.log.size(), 2u);
  EXPECT_EQ(recorder.log[1], "clear down");
}

}  // namespace
}  // namespace gatedrill
