// gRPC streaming through the gateway, in-process against the fake IdP and an nghttp2 upstream
// on 127.0.0.1: messages go on as they arrive both ways (server streaming, client streaming,
// ping-pong), a reader that stops stalls the upstream through the flow-control windows instead
// of the gateway's memory growing, and failures in the middle of a stream reach the other side
// (an upstream reset, a client cancel, a deadline, a lost connection).
#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/overload/overload_manager.hpp"
#include "grpc_fixture.hpp"

namespace gatedrill::gateway::test {
namespace {

class GrpcStreamTest : public GrpcGatewayTest {
 protected:
  // The upstream, the gateway routing to it (`fields` added to the cluster) and one client_->
  void start_streaming(GrpcUpstreamOptions options = {}, const std::string& fields = "") {
    upstream_grpc_ = std::make_unique<GrpcEchoUpstream>(std::move(options));
    start_cluster(upstream_grpc_->url(), fields);
    client_ = std::make_unique<H2TestClient>(gateway_->port(), false);
    ASSERT_TRUE(client_->connected());
  }
  std::vector<std::pair<std::string, std::string>> grpc_headers(
      std::vector<std::pair<std::string, std::string>> extra = {}) const {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"content-type", "application/grpc"}, {"te", "trailers"}, bearer()};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return headers;
  }
  // A call to one of the upstream's streaming paths, read until its first message came.
  int32_t call_until_first_message(const std::string& path) {
    const int32_t id = client_->submit("POST", path, grpc_headers(), grpc_frame("go"));
    auto& reply = client_->replies()[id];
    EXPECT_TRUE(client_->run_until([&] { return reply.body == grpc_frame("one"); }))
        << reply.body.size();
    return id;
  }
  double requests(const std::string& status, const std::string& reason) const {
    return metric_value("gatedrill_gateway_requests_total{status=\"" + status + "\",reason=\"" +
                        reason + "\"}");
  }

  std::unique_ptr<GrpcEchoUpstream> upstream_grpc_;
  std::unique_ptr<H2TestClient> client_;
};

TEST_F(GrpcStreamTest, ServerStreamingMessagesReachTheClientBeforeTheStreamEnds) {
  start_streaming();
  // The upstream sends "two" and ends only once released, after the client saw "one".
  const int32_t id = call_until_first_message("/pkg.Svc/Stream");
  auto& reply = client_->replies()[id];
  ASSERT_EQ(reply.body, grpc_frame("one"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "application/grpc");
  EXPECT_FALSE(reply.headers["x-request-id"].empty());
  EXPECT_FALSE(reply.closed);
  EXPECT_LT(requests("200", "ok"), 1);  // one request, counted when it ends (absent: -1)
  upstream_grpc_->release();
  ASSERT_TRUE(client_->run_all());
  EXPECT_EQ(reply.body, grpc_frame("one") + grpc_frame("two"));
  EXPECT_EQ(reply.trailers["grpc-status"], "0");
  EXPECT_EQ(reply.error_code, 0u);
  EXPECT_TRUE(eventually([&] { return requests("200", "ok") == 1; }));
  EXPECT_EQ(cluster_metric("active_requests"), 0);
  // One decision-log record, written at the end: the final grpc-status and the bytes each way.
  auto records = audit_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].at("status").as_int64(), 200);
  EXPECT_EQ(records[0].at("grpc_status").as_int64(), 0);
  EXPECT_EQ(records[0].at("request_bytes").as_int64(),
            static_cast<int64_t>(grpc_frame("go").size()));
  EXPECT_EQ(records[0].at("response_bytes").as_int64(),
            static_cast<int64_t>(grpc_frame("one").size() + grpc_frame("two").size()));
  EXPECT_EQ(records[0].at("decision_id").as_string(), reply.headers["x-request-id"]);
}

TEST_F(GrpcStreamTest, ClientStreamingMessagesGoUpstreamAsTheyAreSent) {
  start_streaming();
  const int32_t id = client_->open_stream("POST", "/pkg.Svc/Count", grpc_headers());
  for (const char* message : {"a", "bb", "ccc"}) {
    const uint64_t before = upstream_grpc_->received_bytes();
    client_->send_data(id, grpc_frame(message));
    // Each message reaches the upstream while the client's stream is still open.
    ASSERT_TRUE(client_->run_until([&] { return upstream_grpc_->received_bytes() > before; }))
        << message;
  }
  EXPECT_EQ(upstream_grpc_->received_bytes(),
            grpc_frame("a").size() + grpc_frame("bb").size() + grpc_frame("ccc").size());
  client_->send_data(id, "", true);
  ASSERT_TRUE(client_->run_all());
  auto& reply = client_->replies()[id];
  EXPECT_EQ(reply.body, grpc_frame("3 messages"));
  EXPECT_EQ(reply.trailers["grpc-status"], "0");
}

TEST_F(GrpcStreamTest, BidirectionalPingPongAnswersEachMessageBeforeTheNext) {
  start_streaming();
  const int32_t id = client_->open_stream("POST", "/pkg.Svc/PingPong", grpc_headers());
  auto& reply = client_->replies()[id];
  std::string expected;
  for (int i = 0; i < 5; ++i) {
    // The next ping goes only after the previous pong came back: a gateway that held either
    // direction until its end would never answer.
    const std::string ping = "ping " + std::to_string(i);
    client_->send_data(id, grpc_frame(ping));
    expected += grpc_frame("re:" + ping);
    ASSERT_TRUE(client_->run_until([&] { return reply.body == expected; })) << i;
    EXPECT_FALSE(reply.closed);
  }
  client_->send_data(id, "", true);
  ASSERT_TRUE(client_->run_all());
  EXPECT_EQ(reply.body, expected + grpc_frame("bye"));
  EXPECT_EQ(reply.trailers["grpc-status"], "0");
}

TEST_F(GrpcStreamTest, AStalledReaderStallsTheUpstreamAndMemoryStaysBounded) {
  constexpr uint64_t kBig = 50u << 20;
  start_streaming({.hold = 0, .tls = {}, .require_client_cert = false, .big_bytes = kBig},
                  R"(, "timeout": "60s")");
  client_->keep_bodies(false);
  const int64_t rss_before = resident_memory_bytes();
  const int32_t id = client_->submit("POST", "/pkg.Svc/Big", grpc_headers(), grpc_frame("go"));
  auto& reply = client_->replies()[id];
  ASSERT_TRUE(client_->run_until([&] { return reply.status != 0; }));
  // The client reads nothing more: the gateway stops opening the upstream's window once its
  // per-call buffer is full, so the upstream waits with well under 1 MB sent.
  ASSERT_TRUE(eventually([&] { return upstream_grpc_->big_blocked(); }))
      << upstream_grpc_->big_sent();
  EXPECT_LT(upstream_grpc_->big_sent(), 1u << 20);
  EXPECT_LT(upstream_grpc_->big_sent(), reply.body_bytes + (1u << 20));
  // Half of it, then a stall again: the bound holds in the middle of the stream too.
  ASSERT_TRUE(
      client_->run_until([&] { return reply.body_bytes >= kBig / 2; }, std::chrono::seconds(20)))
      << reply.body_bytes << " received, " << upstream_grpc_->big_sent() << " sent";
  ASSERT_TRUE(eventually([&] { return upstream_grpc_->big_blocked(); }))
      << upstream_grpc_->big_sent();
  EXPECT_LT(upstream_grpc_->big_sent(), reply.body_bytes + (1u << 20));
  int64_t rss_peak = 0;
  ASSERT_TRUE(client_->run_until(
      [&] {
        rss_peak = std::max(rss_peak, resident_memory_bytes());
        return reply.closed;
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(reply.body_bytes, kBig);
  EXPECT_EQ(reply.trailers["grpc-status"], "0");
  // 50 MB went through; the process (gateway, upstream and client) grew by far less.
  EXPECT_LT(rss_peak - rss_before, 24 << 20) << rss_before << " -> " << rss_peak;
}

TEST_F(GrpcStreamTest, AnUpstreamResetMidStreamResetsTheClientsStream) {
  start_streaming();
  const int32_t id = call_until_first_message("/pkg.Svc/ResetMidStream");
  auto& reply = client_->replies()[id];
  upstream_grpc_->release();  // RST_STREAM INTERNAL_ERROR
  ASSERT_TRUE(client_->run_all());
  EXPECT_EQ(reply.error_code, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  EXPECT_TRUE(reply.trailers.empty());
  EXPECT_TRUE(eventually([&] { return requests("502", "upstream_reset") == 1; }));
  // The connection and the next call are fine.
  auto again = calls({"/pkg.Svc/Echo"});
  EXPECT_EQ(grpc_status(again[0]), "0");
  EXPECT_EQ(upstream_grpc_->connections(), 1);
}

TEST_F(GrpcStreamTest, AClientCancelReachesTheUpstream) {
  start_streaming();
  const int32_t id = call_until_first_message("/pkg.Svc/Stream");
  client_->reset(id);
  ASSERT_TRUE(client_->send());
  EXPECT_TRUE(eventually([&] { return upstream_grpc_->cancelled() == 1; }));  // RST_STREAM CANCEL
  EXPECT_TRUE(eventually([&] { return requests("499", "client_cancelled") == 1; }));
  EXPECT_EQ(cluster_metric("active_requests"), 0);
}

TEST_F(GrpcStreamTest, ADeadlineMidStreamEndsWithDeadlineExceeded) {
  start_streaming();  // never released: "two" never comes
  const int32_t id = client_->submit("POST", "/pkg.Svc/Stream",
                                     grpc_headers({{"grpc-timeout", "300m"}}), grpc_frame("go"));
  ASSERT_TRUE(client_->run_all());
  auto& reply = client_->replies()[id];
  EXPECT_EQ(reply.body, grpc_frame("one"));
  EXPECT_EQ(reply.trailers["grpc-status"], "4");
  EXPECT_NE(reply.trailers["grpc-message"].find("upstream_timeout"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return upstream_grpc_->cancelled() == 1; }));
  EXPECT_EQ(requests("504", "upstream_timeout"), 1);
  auto records = audit_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].at("grpc_status").as_int64(), 4);
  EXPECT_GE(records[0].at("latency_us").as_int64(), 300'000);  // the whole call
}

TEST_F(GrpcStreamTest, ALostUpstreamConnectionMidStreamEndsWithUnavailable) {
  start_streaming();
  const int32_t id = call_until_first_message("/pkg.Svc/DropMidStream");
  auto& reply = client_->replies()[id];
  upstream_grpc_->release();  // the upstream closes the connection
  ASSERT_TRUE(client_->run_all());
  EXPECT_EQ(reply.trailers["grpc-status"], "14");
  EXPECT_NE(reply.trailers["grpc-message"].find("upstream_reset"), std::string::npos);
  EXPECT_EQ(reply.error_code, 0u);
}

}  // namespace
}  // namespace gatedrill::gateway::test
