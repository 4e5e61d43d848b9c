// The HTTP/1.1 relay of upstream responses: the client's response written from the upstream
// head's bytes (gateway/proxy/h1_relay), and end to end through a gateway in front of an
// upstream that answers hand-written bytes: each body framing, interim responses, the fields
// that must not cross, and upstream protocol errors as 502 upstream_reset.
#include <poll.h>

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/util/strings.hpp"
#include "gateway/proxy/h1_relay.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

UpstreamResponse parsed(const std::string& wire, bool head_request = false) {
  H1ResponseParser::Limits limits;
  limits.keep_fields = true;
  H1ResponseParser p(limits);
  p.reset(head_request);
  UpstreamResponse out;
  p.feed(wire, &out.body);
  p.on_eof();
  EXPECT_TRUE(p.done()) << p.error();
  out.status = p.status();
  out.head = wire.substr(p.head_offset(), p.head_size());
  out.fields = p.fields();
  return out;
}

TEST(H1Relay, ClientResponseKeepsTheFieldsThatCrossInOrder) {
  auto r = parsed(
      "HTTP/1.1 201 Whatever\r\nServer: secret\r\nX-A: 1\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: gone\r\nx-powered-by: php\r\nX-Request-Id: theirs\r\nContent-Length: 5\r\n"
      "Keep-Alive: timeout=5\r\nX-B: 2\r\nTransfer-Encoding-Not: kept\r\n\r\nhello");
  std::string wire;
  write_client_response(r, 11, true, "0123", false, wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nX-B: 2\r\nTransfer-Encoding-Not: kept\r\n"
            "x-request-id: 0123\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(H1Relay, ConnectionAndLengthFollowTheClient) {
  auto chunked = parsed(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
  std::string wire;
  write_client_response(chunked, 11, false, "id", false, wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nx-request-id: id\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"
            "abc");
  write_client_response(chunked, 10, true, "id", false, wire);
  EXPECT_EQ(wire,
            "HTTP/1.0 200 OK\r\nx-request-id: id\r\nConnection: keep-alive\r\n"
            "Content-Length: 3\r\n\r\nabc");
  // HEAD: the upstream's length, no body; 204/304: no length at all.
  auto head = parsed("HTTP/1.1 200 OK\r\nContent-Length: 42\r\nETag: x\r\n\r\n", true);
  write_client_response(head, 11, true, "id", true, wire);
  EXPECT_EQ(wire, "HTTP/1.1 200 OK\r\nETag: x\r\nx-request-id: id\r\nContent-Length: 42\r\n\r\n");
  auto not_modified = parsed("HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n");
  write_client_response(not_modified, 11, true, "id", false, wire);
  EXPECT_EQ(wire, "HTTP/1.1 304 Not Modified\r\nx-request-id: id\r\n\r\n");
  auto empty = parsed("HTTP/1.1 200 OK\r\n\r\n");
  write_client_response(empty, 11, true, "id", false, wire);
  EXPECT_EQ(wire, "HTTP/1.1 200 OK\r\nx-request-id: id\r\nContent-Length: 0\r\n\r\n");
}

// An upstream that answers each request head with the bytes `answer` returns for it (and
// closes when they say so), one connection at a time; records the request heads.
class CannedUpstream {
 public:
  struct Reply {
    std::string bytes;
    bool close = false;
  };
  explicit CannedUpstream(std::function<Reply(const std::string& head)> answer)
      : answer_(std::move(answer)), fd_(listen_loopback(port_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~CannedUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> heads() const {
    std::lock_guard lock(mutex_);
    return heads_;
  }

 private:
  void run() {
    serve_until_stopped(fd_, stop_, [this](int conn) { serve(conn); });
  }
  void serve(int conn) {
    std::string pending;
    char buffer[4096];
    // More bytes into `pending`; false once the peer is gone or the test stops.
    auto read_more = [&] {
      while (!stop_) {
        pollfd p{conn, POLLIN, 0};
        if (::poll(&p, 1, 50) < 0) return false;
        if (!(p.revents & (POLLIN | POLLHUP))) continue;
        ssize_t n = ::recv(conn, buffer, sizeof buffer, 0);
        if (n <= 0) return false;
        pending.append(buffer, static_cast<size_t>(n));
        return true;
      }
      return false;
    };
    for (;;) {
      size_t end = pending.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (!read_more()) return;
        continue;
      }
      std::string head = pending.substr(0, end + 4);
      // The body (Content-Length only: what the gateway sends upstream) is read past.
      std::string lower = to_lower(head);
      size_t body = 0;
      if (auto at = lower.find("\r\ncontent-length: "); at != std::string::npos)
        body = std::stoul(lower.substr(at + 18));
      while (pending.size() < end + 4 + body)
        if (!read_more()) return;
      pending.erase(0, end + 4 + body);
      {
        std::lock_guard lock(mutex_);
        heads_.push_back(head);
      }
      Reply reply = answer_(head);
      ::send(conn, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
      if (reply.close) return;
    }
  }

  std::function<Reply(const std::string&)> answer_;
  uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> heads_;
};

class H1RelayTest : public ::testing::Test {
 protected:
  void start(const std::string& upstream, size_t max_response_bytes = 64 << 20) {
    auto config = base_config(idp_, upstream);
    config.data.max_upstream_response_bytes = max_response_bytes;
    config.data.breaker.consecutive_failures = 0;  // each bad answer is judged on its own
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  // One request on a raw connection; everything the gateway sent until it closed.
  std::string exchange(const std::string& method, const std::string& path,
                       bool close = true) const {
    RawConnection c(gateway_->port());
    EXPECT_TRUE(c.connected());
    c.send_all(method + " " + path + " HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " +
               idp_.token(time_.wall_seconds()) + "\r\n" + (close ? "Connection: close\r\n" : "") +
               "\r\n");
    return c.read_until_close();
  }
  Result<HttpResponse> get(const std::string& path) const {
    return http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + path,
                        {{"Authorization", "Bearer " + idp_.token(time_.wall_seconds())}}, {},
                        quick());
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  std::unique_ptr<Gateway> gateway_;
};

// The answer for a request head: the response named by the path ("/chunked" -> kAnswers).
CannedUpstream::Reply canned(const std::string& head) {
  const size_t first = head.find(' ');
  const std::string path = head.substr(first + 1, head.find(' ', first + 1) - first - 1);
  if (path == "/chunked")
    return {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-App: c\r\n\r\n"
        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"};
  if (path == "/until-close") return {"HTTP/1.1 200 OK\r\nX-App: u\r\n\r\nuntil the close", true};
  if (path == "/interim")
    return {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
  if (path == "/no-content") return {"HTTP/1.1 204 No Content\r\nX-App: n\r\n\r\n"};
  if (path == "/head") return {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"};
  if (path == "/fingerprints")
    return {
        "HTTP/1.1 200 OK\r\nServer: nginx/1.0\r\nX-Powered-By: php\r\nConnection: X-Secret\r\n"
        "X-Secret: s\r\nKeep-Alive: timeout=1\r\nX-App: f\r\nContent-Length: 1\r\n\r\nf"};
  if (path == "/malformed") return {"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", true};
  if (path == "/injection")
    return {"HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: evil\r\nContent-Length: 0\r\n\r\n", true};
  if (path == "/smuggling")
    return {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            true};
  if (path == "/huge-head")
    return {"HTTP/1.1 200 OK\r\nX-Big: " + std::string(9000, 'a') + "\r\nContent-Length: 0\r\n\r\n",
            true};
  if (path == "/big-body")
    return {"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'b'), true};
  if (path == "/big-chunks")
    return {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
                std::string(1024, 'c') + "\r\n400\r\n" + std::string(1024, 'c') + "\r\n0\r\n\r\n",
            true};
  if (path == "/truncated") return {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true};
  return {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
}

TEST_F(H1RelayTest, EachBodyFramingReachesTheClientWithALength) {
  CannedUpstream upstream(canned);
  start(upstream.url());
  auto chunked = get("/chunked");
  ASSERT_TRUE(chunked) << chunked.error().message;
  EXPECT_EQ(chunked->status, 200);
  EXPECT_EQ(chunked->body, "hello, world");
  EXPECT_EQ(chunked->header("X-App"), "c");
  EXPECT_EQ(chunked->header("Transfer-Encoding"), "");
  EXPECT_EQ(chunked->header("X-Trailer"), "");

  const std::string until_close = exchange("GET", "/until-close");
  EXPECT_NE(until_close.find("X-App: u\r\n"), std::string::npos) << until_close;
  EXPECT_NE(until_close.find("Content-Length: 15\r\n"), std::string::npos) << until_close;
  EXPECT_EQ(until_close.substr(until_close.size() - 15), "until the close");

  auto interim = get("/interim");
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 200);
  EXPECT_EQ(interim->body, "ok");

  const std::string no_content = exchange("GET", "/no-content");
  EXPECT_EQ(no_content.substr(0, 25), "HTTP/1.1 204 No Content\r\n") << no_content;
  EXPECT_EQ(no_content.find("Content-Length"), std::string::npos) << no_content;
  EXPECT_NE(no_content.find("X-App: n\r\n"), std::string::npos) << no_content;

  const std::string head = exchange("HEAD", "/head");
  EXPECT_NE(head.find("Content-Length: 1234\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << head;  // no body
}

TEST_F(H1RelayTest, FieldsThatMustNotCrossAreDropped) {
  CannedUpstream upstream(canned);
  start(upstream.url());
  const std::string answer = exchange("GET", "/fingerprints");
  for (const char* gone : {"Server", "X-Powered-By", "X-Secret", "Keep-Alive", "timeout"})
    EXPECT_EQ(answer.find(gone), std::string::npos) << gone << " in " << answer;
  EXPECT_NE(answer.find("X-App: f\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("x-request-id: "), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
}

TEST_F(H1RelayTest, UpstreamProtocolErrorsAre502UpstreamReset) {
  CannedUpstream upstream(canned);
  start(upstream.url(), 1500);
  for (const char* path : {"/malformed", "/injection", "/smuggling", "/huge-head", "/big-body",
                           "/big-chunks", "/truncated"}) {
    auto r = get(path);
    ASSERT_TRUE(r) << path << ": " << r.error().message;
    EXPECT_EQ(r->status, 502) << path << ": " << r->body;
    EXPECT_EQ(reason_of(*r), "upstream_reset") << path;
    EXPECT_EQ(r->header("Set-Cookie"), "") << path;
  }
  auto after = get("/ok");  // the gateway and its pool go on
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ(after->body, "ok");
}

TEST_F(H1RelayTest, KeptAliveUpstreamCarriesConsecutiveResponses) {
  CannedUpstream upstream(canned);
  start(upstream.url());
  RawConnection c(gateway_->port());
  ASSERT_TRUE(c.connected());
  const std::string auth = "Authorization: Bearer " + idp_.token(time_.wall_seconds()) + "\r\n";
  std::string requests;
  for (const char* path : {"/chunked", "/ok", "/interim"})
    requests += std::string("GET ") + path + " HTTP/1.1\r\nHost: gw\r\n" + auth + "\r\n";
  ASSERT_TRUE(c.send_all(requests));
  auto answers = c.read_responses(3);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].substr(answers[0].size() - 12), "hello, world");
  EXPECT_EQ(answers[1].substr(answers[1].size() - 2), "ok");
  EXPECT_EQ(answers[2].substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(upstream.heads().size(), 3u);
}

TEST_F(H1RelayTest, UpstreamRequestIsTheClientsMinusWhatTheGatewaySetsOrDrops) {
  CannedUpstream upstream(canned);
  start(upstream.url());
  const std::string port = upstream.url().substr(upstream.url().rfind(':') + 1);
  RawConnection c(gateway_->port());
  ASSERT_TRUE(c.connected());
  const std::string auth = "Authorization: Bearer " + idp_.token(time_.wall_seconds()) + "\r\n";
  ASSERT_TRUE(
      c.send_all("POST http://gw/api/x?q=1 HTTP/1.1\r\nHost: gw\r\n" + auth +
                 "X-Custom: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: h\r\nKeep-Alive: 5\r\n"
                 "X-Forwarded-For: 6.6.6.6\r\nx-request-id: theirs\r\nX-Gatedrill-Sub: mallory\r\n"
                 "X-Envoy-Foo: 1\r\nTE: trailers\r\nContent-Length: 5\r\nX-Last: z\r\n\r\nhello"
                 "GET /api/y HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n" +
                 auth + "\r\n"));
  auto answers = c.read_responses(2);
  ASSERT_EQ(answers.size(), 2u);
  auto heads = upstream.heads();
  ASSERT_EQ(heads.size(), 2u);
  auto id_of = [](const std::string& response) {
    auto at = response.find("x-request-id: ");
    return at == std::string::npos ? std::string() : response.substr(at + 14, 32);
  };
  EXPECT_EQ(heads[0], "POST /api/x?q=1 HTTP/1.1\r\n" + auth +
                          "X-Custom: a\r\nX-Last: z\r\nHost: 127.0.0.1:" + port +
                          "\r\nx-request-id: " + id_of(answers[0]) +
                          "\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\n"
                          "x-gatedrill-sub: alice\r\nContent-Length: 5\r\n\r\n");
  // An empty GET keeps the client's own Content-Length: 0 where it was, and gets none added.
  EXPECT_EQ(heads[1], "GET /api/y HTTP/1.1\r\nContent-Length: 0\r\n" + auth +
                          "Host: 127.0.0.1:" + port + "\r\nx-request-id: " + id_of(answers[1]) +
                          "\r\nx-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\n"
                          "x-gatedrill-sub: alice\r\n\r\n");
}

}  // namespace
}  // namespace gatedrill::gateway::test
