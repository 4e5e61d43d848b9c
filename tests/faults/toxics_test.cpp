// Toxic parsing (bad parameters get specific messages) and chunk planning, without sockets.
#include "scenarios/faults/toxics.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace gatedrill {
namespace {

Result<Toxic> parse(const char* json) {
  return parse_toxic(boost::json::parse(json).as_object());
}

std::string parse_error(const char* json) {
  auto r = parse(json);
  if (r.ok()) {
    ADD_FAILURE() << "accepted: " << json;
    return "";
  }
  EXPECT_EQ(r.error().code, "bad_toxic");
  return r.error().message;
}

Toxic make(const char* json, uint64_t id = 1) {
  auto r = parse(json);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  Toxic t = r.ok() ? *r : Toxic{};
  t.id = id;
  return t;
}

TEST(ToxicParse, FillsDefaultsLikeToxiproxy) {
  Toxic t = make(R"({"type":"latency","attributes":{"latency":250}})");
  EXPECT_EQ(t.name, "latency_downstream");
  EXPECT_EQ(t.stream, Stream::kDownstream);
  EXPECT_DOUBLE_EQ(t.toxicity, 1.0);
  EXPECT_EQ(t.latency, 250);
  EXPECT_EQ(t.jitter, 0);
  EXPECT_EQ(toxic_to_json(t).at("attributes").at("jitter").as_int64(), 0);
  EXPECT_EQ(make(R"({"type":"mtu_blackhole","stream":"upstream"})").mtu, 1500);
}

TEST(ToxicParse, RejectsBadParametersWithSpecificMessages) {
  EXPECT_NE(parse_error(R"({"type":"lag"})").find("unknown toxic type 'lag'; known: "),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"name":"x"})").find("needs a \"type\""), std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"latency","attributes":{"latency":-5}})")
                .find("attributes.latency must be >= 0"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"latency","attributes":{"latency":"5ms"}})")
                .find("attributes.latency must be an integer"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"type":"latency","attributes":{"rate":5}})").find("no attribute 'rate'"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"latency","stream":"sideways"})").find("stream must be"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"latency","toxicity":1.5})").find("toxicity must be"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"type":"bandwidth","attributes":{"rate":0}})").find("rate must be >= 1"),
      std::string::npos);
  EXPECT_NE(
      parse_error(R"({"type":"mtu_blackhole","attributes":{"mtu":20}})").find("mtu must be >= 68"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"slicer","attributes":{"average_size":10,"size_variation":10}})")
                .find("size_variation must be smaller"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"type":"latency","name":"a/b"})").find("no '/'"), std::string::npos);
}

std::string joined(const ChunkPlan& plan) {
  std::string s;
  for (const auto& p : plan.pieces) s += p.data;
  return s;
}

TEST(PlanChunk, LatencyDelaysTheChunk) {
  DirectionState state(1);
  auto plan =
      plan_chunk("hello", {make(R"({"type":"latency","attributes":{"latency":40}})")}, state);
  ASSERT_EQ(plan.action, ChunkPlan::Action::kForward);
  ASSERT_EQ(plan.pieces.size(), 1u);
  EXPECT_EQ(plan.pieces[0].delay, std::chrono::milliseconds(40));
}

TEST(PlanChunk, LimitDataTruncatesAndCloses) {
  DirectionState state(1);
  const std::vector<Toxic> toxics = {make(R"({"type":"limit_data","attributes":{"bytes":10}})")};
  auto first = plan_chunk("123456", toxics, state);
  EXPECT_EQ(joined(first), "123456");
  EXPECT_EQ(first.then, ChunkPlan::Then::kContinue);
  auto second = plan_chunk("abcdefgh", toxics, state);
  EXPECT_EQ(joined(second), "abcd");
  EXPECT_EQ(second.then, ChunkPlan::Then::kClose);
  EXPECT_EQ(state.forwarded, 10);
}

TEST(PlanChunk, MtuBlackholeHoldsOnlyWhatExceedsTheMtu) {
  DirectionState state(1);
  const std::vector<Toxic> toxics = {make(R"({"type":"mtu_blackhole","attributes":{"mtu":100}})")};
  EXPECT_EQ(plan_chunk(std::string(60, 'a'), toxics, state).action, ChunkPlan::Action::kForward);
  // The same exchange would now exceed 100 bytes.
  EXPECT_EQ(plan_chunk(std::string(60, 'a'), toxics, state).action, ChunkPlan::Action::kHold);
  state.exchange = 0;  // the other direction answered: a fresh exchange
  EXPECT_EQ(plan_chunk(std::string(60, 'a'), toxics, state).action, ChunkPlan::Action::kForward);
  EXPECT_EQ(plan_chunk(std::string(101, 'a'), {}, state).action, ChunkPlan::Action::kForward);
}

TEST(PlanChunk, SlicerKeepsTheBytesInOrder) {
  DirectionState state(7);
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>('a' + i % 26);
  auto plan = plan_chunk(
      data,
      {make(
          R"({"type":"slicer","attributes":{"average_size":50,"size_variation":20,"delay":10}})")},
      state);
  EXPECT_EQ(joined(plan), data);
  EXPECT_GE(plan.pieces.size(), 1000u / 70);
  for (const auto& p : plan.pieces) EXPECT_LE(p.data.size(), 70u);
  EXPECT_EQ(plan.pieces[1].delay, std::chrono::microseconds(10));
}

TEST(PlanChunk, BandwidthSpreadsTheChunkOverTime) {
  DirectionState state(1);
  auto plan = plan_chunk(std::string(10240, 'x'),
                         {make(R"({"type":"bandwidth","attributes":{"rate":50}})")}, state);
  std::chrono::microseconds total(0);
  for (const auto& p : plan.pieces) total += p.delay;
  EXPECT_EQ(joined(plan).size(), 10240u);
  EXPECT_EQ(total, std::chrono::milliseconds(200));  // 10 KiB at 50 KiB/s
}

TEST(PlanChunk, TimeoutAndResetDropTheData) {
  DirectionState state(1);
  auto timeout =
      plan_chunk("x", {make(R"({"type":"timeout","attributes":{"timeout":300}})")}, state);
  EXPECT_EQ(timeout.action, ChunkPlan::Action::kDrop);
  EXPECT_EQ(timeout.close_after, std::chrono::milliseconds(300));
  auto reset =
      plan_chunk("x", {make(R"({"type":"reset_peer","attributes":{"timeout":20}})")}, state);
  EXPECT_EQ(reset.action, ChunkPlan::Action::kDrop);
  EXPECT_EQ(reset.then, ChunkPlan::Then::kReset);
  EXPECT_EQ(reset.then_delay, std::chrono::milliseconds(20));
  EXPECT_EQ(state.forwarded, 0);
}

TEST(PlanChunk, ToxicityIsDrawnOncePerConnection) {
  const Toxic half = make(R"({"type":"timeout","toxicity":0.5})", 42);
  int affected = 0;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    DirectionState state(seed);
    const bool first = plan_chunk("x", {half}, state).action == ChunkPlan::Action::kDrop;
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(plan_chunk("x", {half}, state).action == ChunkPlan::Action::kDrop, first);
    }
    affected += first ? 1 : 0;
  }
  EXPECT_GT(affected, 400);
  EXPECT_LT(affected, 600);
  DirectionState state(3);
  EXPECT_EQ(plan_chunk("x", {make(R"({"type":"timeout","toxicity":0})")}, state).action,
            ChunkPlan::Action::kForward);
}

TEST(CloseDelay, AddsSlowCloseDelays) {
  DirectionState state(1);
  EXPECT_EQ(close_delay({make(R"({"type":"slow_close","attributes":{"delay":75}})")}, state),
            std::chrono::milliseconds(75));
  EXPECT_EQ(close_delay({}, state), std::chrono::microseconds(0));
}

}  // namespace
}  // namespace gatedrill
