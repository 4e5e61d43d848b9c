#include "core/http/http_server.hpp"

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/http/http_client.hpp"
#include "core/time/time_source.hpp"
#include "tests/net/net_test_support.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

std::string url(uint16_t port, const std::string& path, const std::string& scheme = "http") {
  return scheme + "://127.0.0.1:" + std::to_string(port) + path;
}

HttpResponse text(std::string body) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(options);
    server_->route("GET", "/exact", [](const HttpRequest&) { return text("exact"); });
    server_->route("GET", "/tree/*", [](const HttpRequest& r) { return text("tree:" + r.path); });
    server_->route("POST", "/echo", [](const HttpRequest& r) {
      return text(r.body + "|" + std::string(r.header("X-Tag")) + "|" + r.query);
    });
    server_->route("*", "/any", [](const HttpRequest& r) { return text("any:" + r.method); });
    server_->route("GET", "/throw",
                   [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    server_->route("GET", "/remote", [](const HttpRequest& r) { return text(r.remote); });
    server_->route("GET", "/close", [](const HttpRequest&) {
      auto response = text("bye");
      response.close = true;
      return response;
    });
    extra_routes(*server_);
    auto started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_NE(server_->port(), 0);
  }
  virtual void extra_routes(HttpServer&) {}
  uint16_t port() const { return server_->port(); }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ExactRouteAnswers) {
  start();
  auto response = http_get(url(port(), "/exact"));
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "exact");
  EXPECT_EQ(response->content_type, "text/plain");
}

TEST_F(HttpServerTest, ExactRouteDoesNotMatchLongerPath) {
  start();
  auto response = http_get(url(port(), "/exact/more"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("\"not_found\""), std::string::npos) << response->body;
}

TEST_F(HttpServerTest, PrefixRouteMatchesBaseAndDeeperPaths) {
  start();
  auto deep = http_get(url(port(), "/tree/a/b?x=1"));
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->body, "tree:/tree/a/b");
  auto base = http_get(url(port(), "/tree/"));
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->body, "tree:/tree/");
}

TEST_F(HttpServerTest, RequestCarriesBodyHeadersAndQuery) {
  start();
  auto response = http_request("POST", url(port(), "/echo?a=1&b=2"), {{"x-tag", "t1"}}, "payload");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "payload|t1|a=1&b=2");
}

TEST_F(HttpServerTest, WildcardMethodMatchesAnyMethod) {
  start();
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    auto response = http_request(method, url(port(), "/any"));
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->body, std::string("any:") + method);
  }
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  start();
  auto response = http_request("DELETE", url(port(), "/exact"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET");
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_NE(response->body.find("\"method_not_allowed\""), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathIs404Json) {
  start();
  auto response = http_get(url(port(), "/nowhere"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body.rfind("{\"error\":{\"code\":\"not_found\"", 0), 0u) << response->body;
}

TEST_F(HttpServerTest, ThrowingHandlerIs500AndServerStaysUp) {
  start();
  auto failed = http_get(url(port(), "/throw"));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, 500);
  EXPECT_NE(failed->body.find("boom"), std::string::npos);
  auto after = http_get(url(port(), "/exact"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, 200);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  test::RawConnection connection(port());
  ASSERT_TRUE(connection.connected());
  std::string first, second;
  ASSERT_TRUE(connection.send_all("GET /remote HTTP/1.1\r\nHost: x\r\n\r\n"));
  first = connection.read_response();
  ASSERT_TRUE(connection.send_all("GET /remote HTTP/1.1\r\nHost: x\r\n\r\n"));
  second = connection.read_response();
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  auto body = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };
  EXPECT_EQ(body(first), body(second));  // same client port: the same connection
  EXPECT_EQ(body(first).rfind("127.0.0.1:", 0), 0u);
}

TEST_F(HttpServerTest, CloseFlagEndsTheConnection) {
  start();
  test::RawConnection connection(port());
  ASSERT_TRUE(connection.send_all("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = connection.read_response();
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_TRUE(connection.closed_by_peer());
}

TEST_F(HttpServerTest, MalformedRequestIs400AndClose) {
  start();
  test::RawConnection connection(port());
  ASSERT_TRUE(connection.send_all("NOT HTTP AT ALL\r\n\r\n"));
  auto response = connection.read_response();
  EXPECT_EQ(response.rfind("HTTP/1.1 400", 0), 0u) << response;
  EXPECT_TRUE(connection.closed_by_peer());
}

TEST_F(HttpServerTest, BodyOverLimitIsRejected) {
  HttpServerOptions options;
  options.max_body_bytes = 64;
  start(options);
  auto small = http_request("POST", url(port(), "/echo"), {}, std::string(64, 'a'));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->status, 200);
  auto big = http_request("POST", url(port(), "/echo"), {}, std::string(65, 'a'));
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("body_too_large"), std::string::npos);
}

TEST_F(HttpServerTest, IdleConnectionIsClosedAfterTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 1s;
  start(options);
  test::RawConnection connection(port(), 5s);
  ASSERT_TRUE(connection.connected());
  EXPECT_TRUE(connection.closed_by_peer());  // well before the 5 s receive timeout
}

TEST(HttpServer, BindFailureNamesTheAddress) {
  HttpServer first({});
  ASSERT_TRUE(first.start().ok());
  HttpServerOptions options;
  options.port = first.port();
  HttpServer second(options);
  auto started = second.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, "bind_failed");
  EXPECT_NE(started.error().message.find("127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << started.error().message;
}

TEST(HttpServer, ReusePortLetsTwoServersShareAPort) {
  HttpServerOptions options;
  options.reuse_port = true;
  HttpServer first(options);
  ASSERT_TRUE(first.start().ok());
  options.port = first.port();
  HttpServer second(options);
  auto started = second.start();
  EXPECT_TRUE(started.ok()) << started.error().message;
}

TEST(HttpServer, StopIsIdempotentAndRefusesNewConnections) {
  HttpServer server({});
  server.route("GET", "/", [](const HttpRequest&) { return text("up"); });
  ASSERT_TRUE(server.start().ok());
  const uint16_t port = server.port();
  ASSERT_TRUE(http_get(url(port, "/")).ok());
  server.stop();
  server.stop();
  auto after = http_get(url(port, "/"), test::with_timeout(2000ms));
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, "connect_failed");
}

TEST(HttpServer, DelayDoesNotHoldTheOnlyThread) {
  HttpServerOptions options;
  options.threads = 1;
  HttpServer server(options);
  std::promise<void> slow_entered;
  server.route("GET", "/slow", [&](const HttpRequest&) {
    slow_entered.set_value();
    auto response = text("slow");
    response.delay = 1500ms;
    return response;
  });
  server.route("GET", "/fast", [](const HttpRequest&) { return text("fast"); });
  ASSERT_TRUE(server.start().ok());

  SystemTimeSource clock;
  const auto began = clock.monotonic();
  std::atomic<bool> slow_done{false};
  Result<HttpResponse> slow_result = make_error("pending", "");
  std::thread slow([&] {
    slow_result = http_get(url(server.port(), "/slow"));
    slow_done = true;
  });
  ASSERT_EQ(slow_entered.get_future().wait_for(5s), std::future_status::ready);
  auto fast = http_get(url(server.port(), "/fast"), test::with_timeout(1000ms));
  const bool slow_finished_first = slow_done.load();
  slow.join();
  const auto elapsed = clock.monotonic() - began;

  ASSERT_TRUE(fast.ok()) << fast.error().message;
  EXPECT_EQ(fast->body, "fast");
  EXPECT_FALSE(slow_finished_first);
  ASSERT_TRUE(slow_result.ok());
  EXPECT_EQ(slow_result->body, "slow");
  EXPECT_GE(elapsed, 1500ms);
}

TEST(HttpServer, ManyConcurrentClientsOnSeveralThreads) {
  HttpServerOptions options;
  options.threads = 4;
  HttpServer server(options);
  std::atomic<int> served{0};
  server.route("GET", "/n", [&](const HttpRequest& r) {
    ++served;
    return text(r.query);
  });
  ASSERT_TRUE(server.start().ok());
  std::atomic<int> correct{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 20; ++i) {
        std::string query = std::to_string(c) + "-" + std::to_string(i);
        auto response = http_get(url(server.port(), "/n?" + query));
        if (response.ok() && response->status == 200 && response->body == query) ++correct;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(correct.load(), 160);
  EXPECT_EQ(served.load(), 160);
}

TEST(HttpServer, DestroyedWithOpenAndPendingConnections) {
  std::promise<void> slow_entered;
  std::unique_ptr<test::RawConnection> idle, pending;
  {
    HttpServerOptions options;
    options.threads = 2;
    HttpServer server(options);
    server.route("GET", "/slow", [&](const HttpRequest&) {
      slow_entered.set_value();
      auto response = text("late");
      response.delay = 60s;
      return response;
    });
    ASSERT_TRUE(server.start().ok());
    idle = std::make_unique<test::RawConnection>(server.port());
    pending = std::make_unique<test::RawConnection>(server.port());
    ASSERT_TRUE(idle->connected());
    ASSERT_TRUE(pending->send_all("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(slow_entered.get_future().wait_for(5s), std::future_status::ready);
  }  // the destructor must not wait for the 60 s delay nor the idle timeout
  EXPECT_TRUE(pending->closed_by_peer());
  EXPECT_TRUE(idle->closed_by_peer());
}

TEST(HttpServer, TlsServesHttpsAndVerifiesAgainstTheCa) {
  test::ScratchDir dir;
  std::string cert, key;
  ASSERT_TRUE(test::make_self_signed(dir, cert, key));
  HttpServerOptions options;
  options.tls = TlsServerConfig{cert, key};
  HttpServer server(options);
  server.route("GET", "/", [](const HttpRequest&) { return text("secure"); });
  auto started = server.start();
  ASSERT_TRUE(started.ok()) << started.error().message;

  HttpClientOptions trusting;
  trusting.ca_file = cert;
  auto verified = http_get(url(server.port(), "/", "https"), trusting);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->body, "secure");

  auto by_name = http_get("https://localhost:" + std::to_string(server.port()) + "/", trusting);
  ASSERT_TRUE(by_name.ok()) << by_name.error().message;

  HttpClientOptions unverified;
  unverified.verify_peer = false;
  auto insecure = http_get(url(server.port(), "/", "https"), unverified);
  ASSERT_TRUE(insecure.ok()) << insecure.error().message;

  HttpClientOptions system_roots;  // our self-signed cert is not in them
  auto rejected = http_get(url(server.port(), "/", "https"), system_roots);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().code, "tls_failed");

  auto plain = http_get(url(server.port(), "/"), test::with_timeout(2000ms));
  EXPECT_FALSE(plain.ok() && plain->status == 200);
}

TEST(HttpServer, BadTlsFilesAreReported) {
  test::ScratchDir dir;
  HttpServerOptions options;
  options.tls = TlsServerConfig{dir.file("missing.pem"), dir.file("missing.key")};
  HttpServer server(options);
  auto started = server.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, "tls_config");
  EXPECT_NE(started.error().message.find("missing.pem"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill
