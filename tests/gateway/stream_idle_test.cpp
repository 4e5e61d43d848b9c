// Idle timeouts against a real `gatedrill gateway` process (h2c and HTTP/1.1 on a plaintext
// listener, gRPC to an nghttp2 upstream): the connection's --idle-timeout counts only while no
// stream is open, so a server-streaming call, or a call that waits on its upstream, outlives it
// many times over; a connection without streams is still closed (GOAWAY NO_ERROR); and
// --stream-idle-timeout ends one stream on which nothing moves while its connection goes on.
// Time is driven by the upstream's own pacing (/pkg.Svc/Tick, a delayed HTTP upstream); the
// test only waits on what it observes, each wait bounded by a deadline.
#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "h2_fixture.hpp"
#include "h2_test_upstream.hpp"

namespace gatedrill::gateway::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

class StreamIdleTest : public ::testing::Test {
 protected:
  // The gateway process in front of the HTTP upstream (--upstream) and the gRPC one
  // (--grpc-upstream), with a cluster timeout well past every call here.
  void start(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--plaintext", "--grpc-upstream", grpc_.url(),
                                     "--upstream-timeout", "20s"};
    args.insert(args.end(), extra.begin(), extra.end());
    gateway_ = std::make_unique<GatewayChild>(idp_, upstream_.url(), args);
    port_ = gateway_->port();
    admin_port_ = gateway_->admin_port();
    ASSERT_GT(port_, 0) << "ready line: " << gateway_->ready();
    ASSERT_GT(admin_port_, 0) << "ready line: " << gateway_->ready();
  }

  std::pair<std::string, std::string> bearer() const {
    return {"authorization", "Bearer " + idp_.token(clock_.wall_seconds())};
  }
  Headers grpc_headers(Headers extra = {}) const {
    Headers headers = {{"content-type", "application/grpc"}, {"te", "trailers"}, bearer()};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return headers;
  }
  // /pkg.Svc/Tick: `count` messages, one every `ms`, then grpc-status 0.
  Headers ticks(int count, int ms) const {
    return grpc_headers(
        {{"x-tick-count", std::to_string(count)}, {"x-tick-ms", std::to_string(ms)}});
  }
  static std::string tick_messages(int count) {
    std::string out;
    for (int i = 1; i <= count; ++i) out += grpc_frame("tick " + std::to_string(i));
    return out;
  }
  static std::string grpc_status(H2TestClient::Reply& r) {
    return r.headers.count("grpc-status") ? r.headers["grpc-status"] : r.trailers["grpc-status"];
  }
  static std::string grpc_message(H2TestClient::Reply& r) {
    return r.headers.count("grpc-message") ? r.headers["grpc-message"] : r.trailers["grpc-message"];
  }
  double metric_value(const std::string& sample) const { return metric(admin_port_, sample); }
  double h2_event(const std::string& kind) const {
    return metric_value("gatedrill_gateway_h2_events_total{kind=\"" + kind + "\"}");
  }
  double requests(const std::string& status, const std::string& reason) const {
    return metric_value("gatedrill_gateway_requests_total{status=\"" + status + "\",reason=\"" +
                        reason + "\"}");
  }
  int64_t now_ms() const { return clock_.monotonic_ms(); }

  SystemTimeSource clock_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  GrpcEchoUpstream grpc_;
  std::unique_ptr<GatewayChild> gateway_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

TEST_F(StreamIdleTest, AServerStreamingCallOutlivesTheConnectionIdleTimeout) {
  start({"--idle-timeout", "300ms"});
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.connected());
  // Four messages 400 ms apart: the call lasts over five idle timeouts, and between messages
  // nothing moves for longer than one (the call just waits on its upstream).
  const int64_t began = now_ms();
  const int32_t id = client.submit("POST", "/pkg.Svc/Tick", ticks(4, 400), grpc_frame("go"));
  ASSERT_GT(id, 0);
  auto& reply = client.replies()[id];
  ASSERT_TRUE(client.run_all(std::chrono::seconds(10)))
      << "closed by the gateway: " << client.peer_closed() << ", body " << reply.body.size();
  EXPECT_GE(now_ms() - began, 1500);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, tick_messages(4));
  EXPECT_EQ(reply.trailers["grpc-status"], "0");
  EXPECT_EQ(reply.error_code, 0u);
  // With its last stream gone the connection is idle: GOAWAY NO_ERROR, then closed.
  EXPECT_TRUE(client.run_until([&] { return client.peer_closed(); }, std::chrono::seconds(5)));
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(client.goaway_error(), static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(h2_event("idle_timeout"), 1);
  EXPECT_EQ(requests("200", "ok"), 1);
}

TEST_F(StreamIdleTest, AConnectionWithoutStreamsIsClosedAfterTheIdleTimeout) {
  start({"--idle-timeout", "300ms"});
  const int64_t began = now_ms();
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.run_until([&] { return client.peer_closed(); }, std::chrono::seconds(5)));
  EXPECT_GE(now_ms() - began, 290);  // not before the idle timeout (ms rounding aside)
  EXPECT_TRUE(client.settings_received());
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(client.goaway_error(), static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(h2_event("idle_timeout"), 1);
  // The process is fine: a fresh connection serves a call.
  H2TestClient again(port_, false);
  const int32_t id = again.submit("POST", "/pkg.Svc/Echo", grpc_headers(), grpc_frame("hi"));
  ASSERT_TRUE(again.run_all());
  EXPECT_EQ(grpc_status(again.replies()[id]), "0");
}

TEST_F(StreamIdleTest, AStreamWithNothingMovingEndsAndTheConnectionGoesOn) {
  start({"--idle-timeout", "60s", "--stream-idle-timeout", "500ms"});
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.connected());
  const int64_t began = now_ms();
  // "one", then nothing: ended after its head and a message went out (trailers).
  const int32_t quiet = client.submit("POST", "/pkg.Svc/Stream", grpc_headers(), grpc_frame("go"));
  // Never answered at all: ended before any head (trailers-only).
  const int32_t silent = client.submit("POST", "/pkg.Svc/Slow", grpc_headers(), grpc_frame("go"));
  // A message every 100 ms for 1.2 s: each one restarts the stream's idle time (400 ms of
  // margin for a busy machine).
  const int32_t ticking = client.submit("POST", "/pkg.Svc/Tick", ticks(12, 100), grpc_frame("go"));
  // An HTTP/2 request whose body never ends: 408 while it is still arriving.
  const int32_t upload = client.open_stream("POST", "/api/items", {bearer()});
  ASSERT_TRUE(client.run_all(std::chrono::seconds(10)));
  EXPECT_GE(now_ms() - began, 1200);

  auto& q = client.replies()[quiet];
  EXPECT_EQ(q.status, 200);
  EXPECT_EQ(q.body, grpc_frame("one"));
  EXPECT_EQ(q.trailers["grpc-status"], "4");  // DEADLINE_EXCEEDED
  EXPECT_NE(q.trailers["grpc-message"].find("stream_idle_timeout"), std::string::npos)
      << q.trailers["grpc-message"];
  EXPECT_EQ(q.error_code, 0u);
  auto& s = client.replies()[silent];
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.headers["grpc-status"], "4");
  EXPECT_NE(grpc_message(s).find("stream_idle_timeout"), std::string::npos) << grpc_message(s);
  auto& t = client.replies()[ticking];
  EXPECT_EQ(t.body, tick_messages(12));
  EXPECT_EQ(t.trailers["grpc-status"], "0");
  auto& u = client.replies()[upload];
  EXPECT_EQ(u.status, 408);
  EXPECT_NE(u.body.find("stream_idle_timeout"), std::string::npos) << u.body;
  EXPECT_EQ(u.error_code, static_cast<uint32_t>(NGHTTP2_NO_ERROR));  // the upload is stopped

  // The upstream's two streams were cancelled; each ended call is one 408 stream_idle_timeout.
  EXPECT_TRUE(eventually([&] { return grpc_.cancelled() == 2; })) << grpc_.cancelled();
  EXPECT_EQ(requests("408", "stream_idle_timeout"), 3);
  EXPECT_EQ(h2_event("stream_idle_timeout"), 3);
  EXPECT_EQ(requests("200", "ok"), 1);

  // Same connection, a new call: served.
  EXPECT_FALSE(client.goaway());
  const int32_t next = client.submit("POST", "/pkg.Svc/Echo", grpc_headers(), grpc_frame("hi"));
  ASSERT_TRUE(client.run_all());
  EXPECT_EQ(grpc_status(client.replies()[next]), "0");
  EXPECT_EQ(client.replies()[next].body, grpc_frame("hi"));
  EXPECT_FALSE(client.goaway());
}

TEST_F(StreamIdleTest, ASlowUpstreamAnswerOutlivesTheIdleTimeoutOnHttp1AndHttp2) {
  start({"--idle-timeout", "300ms"});
  upstream_.set_delay(std::chrono::milliseconds(700));
  // HTTP/1.1: the idle timeout runs only between requests.
  const int64_t began = now_ms();
  auto h1 =
      http_request("GET", "http://127.0.0.1:" + std::to_string(port_) + "/slow",
                   {{"Authorization", "Bearer " + idp_.token(clock_.wall_seconds())}}, {}, quick());
  ASSERT_TRUE(h1) << h1.error().message;
  EXPECT_EQ(h1->status, 200) << h1->body;
  EXPECT_GE(now_ms() - began, 700);
  // HTTP/2: the stream waiting on the upstream keeps the connection from being idle.
  H2TestClient client(port_, false);
  ASSERT_TRUE(client.connected());
  const int32_t id = client.submit("GET", "/slow", {bearer()});
  ASSERT_TRUE(client.run_all(std::chrono::seconds(5))) << "closed: " << client.peer_closed();
  EXPECT_EQ(client.replies()[id].status, 200);
  EXPECT_EQ(client.replies()[id].body, "hello /slow");
}

// In-process: an HTTP/1.1 answer of 16 MB to a client that takes
// it slowly, 256 KB every 20 ms through a small receive window, goes out in full although the
// whole write lasts more than twice the write timeout; each 64 KB has that long, not the whole.
TEST(SlowReader, ALargeHttp1AnswerToASlowReaderIsNotCutWhileBytesFlow) {
  // Larger than the gateway's send buffer (up to 4 MB) by far: the write lasts about a second.
  // The writer wakes when about half that buffer drained (~160 ms at this pace), well within
  // the write timeout.
  constexpr size_t kBody = 16u << 20;
  SystemTimeSource clock;
  FakeIdp idp;
  HttpServer big{HttpServerOptions{}};
  big.route("*", "/*", [](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.body.assign(kBody, 'b');
    return response;
  });
  ASSERT_TRUE(big.start());
  auto config = base_config(idp, "http://127.0.0.1:" + std::to_string(big.port()));
  config.data.write_timeout = std::chrono::milliseconds(400);  // margin for a busy machine
  config.data.upstream_timeout = std::chrono::seconds(10);
  Gateway gateway(clock, std::move(config));
  ASSERT_TRUE(gateway.start());

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 16 * 1024;  // before connect: the advertised window stays small
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(gateway.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              idp.token(clock.wall_seconds()) + "\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // The head first, then the body at the reader's pace.
  std::string head;
  char byte;
  while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &byte, 1, 0) == 1) head += byte;
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  const int64_t began = clock.monotonic_ms();
  std::vector<char> buffer(64 * 1024);
  size_t received = 0;
  bool open = true;
  while (open && received < kBody) {
    for (size_t chunk = 0; chunk < 256 * 1024 && received < kBody;) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        open = false;  // closed by the gateway (or nothing for 5 s)
        break;
      }
      chunk += static_cast<size_t>(n);
      received += static_cast<size_t>(n);
    }
    pollfd none{-1, 0, 0};
    ::poll(&none, 1, 20);  // the reader's pace
  }
  EXPECT_EQ(received, kBody);
  EXPECT_GE(clock.monotonic_ms() - began, 2 * 400);  // longer than the write timeout in all
  ::close(fd);
  gateway.stop();
}

}  // namespace
}  // namespace gatedrill::gateway::test
