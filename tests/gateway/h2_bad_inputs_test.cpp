// BAD-INPUTS.md, HTTP/2 section (rapid reset, oversized headers and too many streams are in
// h2_test.cpp): CONTINUATION floods, PING/SETTINGS floods, window overflow, connection-specific
// request headers, and the rate limit holding across streams. Each case checks the gateway's
// answer and that it still serves a valid request on a fresh connection right after.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "h2_fixture.hpp"

namespace gatedrill::gateway::test {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f += static_cast<char>((payload.size() >> 16) & 0xff);
  f += static_cast<char>((payload.size() >> 8) & 0xff);
  f += static_cast<char>(payload.size() & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>((stream >> shift) & 0x7f);
  return f + payload;
}

// The (type, error code of a GOAWAY) of each frame the server sent.
std::vector<std::pair<int, uint32_t>> server_frames(const std::string& bytes) {
  std::vector<std::pair<int, uint32_t>> out;
  size_t at = 0;
  while (at + 9 <= bytes.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const size_t length = (size_t{b[0]} << 16) | (size_t{b[1]} << 8) | b[2];
    uint32_t code = 0;
    if (b[3] == NGHTTP2_GOAWAY && at + 9 + 8 <= bytes.size())
      code = (uint32_t{b[13]} << 24) | (uint32_t{b[14]} << 16) | (uint32_t{b[15]} << 8) | b[16];
    out.emplace_back(b[3], code);
    at += 9 + length;
  }
  return out;
}

class H2BadInputTest : public H2GatewayTest {
 protected:
  void expect_still_serving() { EXPECT_EQ(get_once({bearer()}).status, 200); }
  std::string opening() const {
    return std::string(kPreface) + h2_frame(NGHTTP2_SETTINGS, 0, 0, "");
  }
};

TEST_F(H2BadInputTest, ContinuationFloodEndsTheConnection) {
  start();
  RawConnection raw(gateway_->port());
  ASSERT_TRUE(raw.connected());
  // HEADERS without END_HEADERS, then CONTINUATION frames that never end the header block.
  std::string flood = opening() + h2_frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, "\x82");
  const std::string fragment(200, '\x90');  // "accept-encoding: gzip, deflate" over and over
  for (int i = 0; i < 2000; ++i) flood += h2_frame(NGHTTP2_CONTINUATION, 0, 1, fragment);
  raw.send_all(flood);  // may fail part-way: the gateway hangs up early
  auto frames = server_frames(raw.read_until_close());
  EXPECT_NE(std::find(frames.begin(), frames.end(),
                      std::make_pair(static_cast<int>(NGHTTP2_GOAWAY),
                                     static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM))),
            frames.end());
  EXPECT_EQ(
      metric(gateway_->admin_port(), "gatedrill_gateway_h2_events_total{kind=\"protocol_error\"}"),
      1);
  EXPECT_TRUE(upstream_.seen().empty());
  expect_still_serving();
}

TEST_F(H2BadInputTest, PingAndSettingsFloodsLeaveOthersServed) {
  start();
  RawConnection raw(gateway_->port());
  ASSERT_TRUE(raw.connected());
  std::string flood = opening();
  for (int i = 0; i < 20000; ++i) {
    flood += h2_frame(NGHTTP2_PING, 0, 0, std::string(8, static_cast<char>(i & 0xff)));
    if (i % 4 == 0) flood += h2_frame(NGHTTP2_SETTINGS, 0, 0, "");
  }
  raw.send_all(flood);  // never reading the acknowledgements
  expect_still_serving();
}

TEST_F(H2BadInputTest, WindowOverflowIsAFlowControlError) {
  start();
  RawConnection raw(gateway_->port());
  ASSERT_TRUE(raw.connected());
  // The connection window starts at 65535: adding 2^31-1 overflows it.
  ASSERT_TRUE(raw.send_all(
      opening() + h2_frame(NGHTTP2_WINDOW_UPDATE, 0, 0, std::string("\x7f\xff\xff\xff", 4))));
  auto frames = server_frames(raw.read_until_close());
  EXPECT_NE(std::find(frames.begin(), frames.end(),
                      std::make_pair(static_cast<int>(NGHTTP2_GOAWAY),
                                     static_cast<uint32_t>(NGHTTP2_FLOW_CONTROL_ERROR))),
            frames.end());
  expect_still_serving();
}

TEST_F(H2BadInputTest, ConnectionSpecificRequestHeadersResetTheStream) {
  start();
  H2TestClient client(gateway_->port(), false);
  ASSERT_TRUE(client.connected());
  const int32_t connection =
      client.submit("GET", "/api/items", {bearer(), {"connection", "close"}});
  const int32_t te = client.submit("GET", "/api/items", {bearer(), {"te", "gzip"}});
  const int32_t transfer =
      client.submit("GET", "/api/items", {bearer(), {"transfer-encoding", "chunked"}});
  const int32_t trailers = client.submit("GET", "/api/items", {bearer(), {"te", "trailers"}});
  ASSERT_TRUE(client.run_all());
  for (int32_t id : {connection, te, transfer}) {
    EXPECT_EQ(client.replies()[id].status, 0) << "stream " << id;
    EXPECT_EQ(client.replies()[id].error_code, static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR))
        << "stream " << id;
  }
  EXPECT_EQ(client.replies()[trailers].status, 200);  // "te: trailers" is the one allowed TE
  EXPECT_EQ(upstream_.seen().size(), 1u);
}

TEST_F(H2BadInputTest, RateLimitHoldsAcrossStreamsAndConnections) {
  auto config = base_config(idp_, upstream_.url());
  config.rate_limit.defaults.requests_per_second = 0.001;  // no refill within the test
  config.rate_limit.defaults.burst_capacity = 5;
  start(std::move(config));
  int ok = 0, limited = 0;
  for (int connection = 0; connection < 2; ++connection) {
    H2TestClient client(gateway_->port(), false);
    ASSERT_TRUE(client.connected());
    std::vector<int32_t> ids;
    for (int i = 0; i < 8; ++i) ids.push_back(client.submit("GET", "/api/items", {bearer()}));
    ASSERT_TRUE(client.run_all());
    for (int32_t id : ids) {
      const auto& r = client.replies()[id];
      if (r.status == 200) ++ok;
      if (r.status == 429) {
        ++limited;
        EXPECT_FALSE(r.headers.at("retry-after").empty());
      }
    }
  }
  EXPECT_EQ(ok, 5);  // the burst, once, for all streams of both connections
  EXPECT_EQ(limited, 11);
}

}  // namespace
}  // namespace gatedrill::gateway::test
