#include "core/http/http_client.hpp"

#include <gtest/gtest.h>

#include "core/http/http_server.hpp"
#include "core/supervisor/free_port.hpp"
#include "tests/net/net_test_support.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

TEST(Url, ParsesSchemeHostPortAndTarget) {
  auto url = Url::parse("http://127.0.0.1:8080/admin/faults?x=1");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/admin/faults?x=1");
  EXPECT_EQ(url->authority(), "127.0.0.1:8080");
  EXPECT_EQ(url->str(), "http://127.0.0.1:8080/admin/faults?x=1");
}

TEST(Url, DefaultsPortFromSchemeAndTargetToSlash) {
  auto http = Url::parse("http://example.test");
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->port, 80);
  EXPECT_EQ(http->target, "/");
  auto https = Url::parse("HTTPS://example.test?q=1#frag");
  ASSERT_TRUE(https.ok());
  EXPECT_EQ(https->scheme, "https");
  EXPECT_EQ(https->port, 443);
  EXPECT_EQ(https->target, "/?q=1");
}

TEST(Url, ParsesBracketedIpv6) {
  auto url = Url::parse("http://[::1]:9000/x");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->authority(), "[::1]:9000");
  EXPECT_EQ(url->str(), "http://[::1]:9000/x");
  auto default_port = Url::parse("https://[::1]");
  ASSERT_TRUE(default_port.ok());
  EXPECT_EQ(default_port->port, 443);
}

TEST(Url, RejectsBadInputWithSpecificMessages) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const Case cases[] = {
      {"127.0.0.1:80/x", "missing scheme"},
      {"ftp://host/", "unsupported scheme"},
      {"http:///path", "missing host"},
      {"http://host:0/", "port out of range"},
      {"http://host:65536/", "port out of range"},
      {"http://host:99999999999999999999/", "port out of range"},
      {"http://host:8o/", "not a number"},
      {"http://host:/", "empty port"},
      {"http://[::1/", "unterminated"},
      {"http://::1:80/", "brackets"},
      {"http://ho st/", "whitespace"},
      {"http://user@host/", "user info"},
  };
  for (const auto& c : cases) {
    auto url = Url::parse(c.text);
    ASSERT_FALSE(url.ok()) << c.text;
    EXPECT_EQ(url.error().code, "bad_url") << c.text;
    EXPECT_NE(url.error().message.find(c.message_part), std::string::npos)
        << c.text << " -> " << url.error().message;
  }
}

TEST(HttpClient, BadUrlIsReportedWithoutNetwork) {
  auto response = http_get("not a url");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "bad_url");
}

TEST(HttpClient, ConnectionRefusedIsConnectFailed) {
  auto port = allocate_port();  // reserved, nobody listens on it
  ASSERT_TRUE(port.ok());
  auto response =
      http_get("http://127.0.0.1:" + std::to_string(*port) + "/", test::with_timeout(2000ms));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "connect_failed") << response.error().message;
}

TEST(HttpClient, ServerThatNeverAnswersIsTimeout) {
  test::SilentListener listener;
  HttpClientOptions options;
  options.timeout = 300ms;
  auto response = http_get("http://127.0.0.1:" + std::to_string(listener.port()) + "/", options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "timeout") << response.error().message;
}

TEST(HttpClient, TlsHandshakeWithSilentServerIsTimeout) {
  test::SilentListener listener;
  HttpClientOptions options;
  options.timeout = 300ms;
  options.verify_peer = false;
  auto response = http_get("https://127.0.0.1:" + std::to_string(listener.port()) + "/", options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "timeout") << response.error().message;
}

TEST(HttpClient, MissingCaFileIsTlsFailed) {
  test::ScratchDir dir;
  HttpClientOptions options;
  options.ca_file = dir.file("nope.pem");
  auto response = http_get("https://127.0.0.1:1/", options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "tls_failed");
  EXPECT_NE(response.error().message.find("nope.pem"), std::string::npos);
}

TEST(HttpClient, ServerSpeakingGarbageIsProtocolError) {
  test::GarbageServer server("SSH-2.0-OpenSSH\r\n\r\n");
  auto response = http_get("http://127.0.0.1:" + std::to_string(server.port()) + "/",
                           test::with_timeout(3000ms));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "protocol_error") << response.error().message;
}

TEST(HttpClient, TlsToAPlainServerIsTlsFailed) {
  HttpServer server({});
  ASSERT_TRUE(server.start().ok());
  // Speaking TLS to a plain HTTP server: the server answers 400 in plain text, which a TLS
  // client cannot read as a handshake.
  HttpClientOptions options;
  options.verify_peer = false;
  auto response = http_get("https://127.0.0.1:" + std::to_string(server.port()) + "/", options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, "tls_failed") << response.error().message;
}

TEST(HttpClient, ClientCertificateAndKeyAreLoadedForMutualTls) {
  test::ScratchDir dir;
  std::string cert, key;
  ASSERT_TRUE(test::make_self_signed(dir, cert, key));
  HttpServerOptions options;
  options.tls = TlsServerConfig{cert, key};
  HttpServer server(options);
  server.route("GET", "/", [](const HttpRequest&) { return json_ok("{}"); });
  ASSERT_TRUE(server.start().ok());
  HttpClientOptions client;
  client.ca_file = cert;
  client.client_cert_file = cert;
  client.client_key_file = key;
  auto response = http_get("https://127.0.0.1:" + std::to_string(server.port()) + "/", client);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);

  client.client_key_file = dir.file("absent.key");
  auto bad_key = http_get("https://127.0.0.1:" + std::to_string(server.port()) + "/", client);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code, "tls_failed");
}

}  // namespace
}  // namespace gatedrill
