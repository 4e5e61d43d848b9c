// The load generator over HTTP/2 against a local nghttp2 server: h2c with prior knowledge, h2
// over TLS (ALPN), concurrent streams on one connection, and a server that cannot speak h2.
#include <openssl/ssl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "core/crypto/keys.hpp"
#include "core/crypto/openssl_ptr.hpp"
#include "core/crypto/x509.hpp"
#include "loadgen/load_generator.hpp"
#include "tests/loadgen/test_h2_server.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

class LoadGeneratorH2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new std::string(::testing::TempDir() + "/loadgen_h2_" + std::to_string(::getpid()));
    SystemTimeSource time;
    Key key = *Key::generate(KeyType::kEcP256);
    CertRequest request;
    request.common_name = "h2 test";
    request.ip_addresses = {"127.0.0.1"};
    request.not_before_s = time.wall_seconds() - 3600;
    request.not_after_s = time.wall_seconds() + 3600;
    std::ofstream(*base_ + ".pem") << issue_certificate(request, key, "", key)->pem;
    std::ofstream(*base_ + ".key") << key.private_pem();
  }
  static void TearDownTestSuite() {
    std::remove((*base_ + ".pem").c_str());
    std::remove((*base_ + ".key").c_str());
    delete base_;
  }
  static SslCtxPtr server_ctx() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate_file(ctx.get(), (*base_ + ".pem").c_str(), SSL_FILETYPE_PEM),
              1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), (*base_ + ".key").c_str(), SSL_FILETYPE_PEM),
              1);
    return ctx;
  }
  static Result<LoadSummary> run(LoadRequestSpec spec, int connections, int streams, double rate,
                                 std::chrono::milliseconds duration) {
    LoadOptions options;
    options.connections = connections;
    options.h2 = true;
    options.streams = streams;
    SystemTimeSource time;
    return LoadGenerator(time, spec, options).run({{"h2", rate, -1, duration}});
  }
  static std::string* base_;
};

std::string* LoadGeneratorH2::base_ = nullptr;

TEST_F(LoadGeneratorH2, PriorKnowledgeH2cCarriesThePathMix) {
  testing::TestH2Server server;
  LoadRequestSpec spec;
  spec.url = server.url("/unused");
  spec.paths = {{"/a", 1}, {"/b", 1}};
  auto summary = run(spec, 2, 4, 200, 500ms);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 100);
  EXPECT_EQ(summary->totals.completed, 100) << summary->first_error;
  EXPECT_EQ(summary->totals.status_counts.at(200), 100);
  EXPECT_EQ(summary->totals.errors + summary->totals.connect_errors + summary->totals.timeouts, 0);
  EXPECT_EQ(summary->totals.latency.count(), 100);
  EXPECT_EQ(server.requests(), 100);
  EXPECT_EQ(server.connections(), 2);
  int a = 0, b = 0;
  for (const auto& p : server.paths()) (p == "/a" ? a : b) += 1;
  EXPECT_EQ(a, 50);
  EXPECT_EQ(b, 50);
}

TEST_F(LoadGeneratorH2, NegotiatesH2OverTls) {
  auto ctx = server_ctx();
  testing::TestH2Server server(ctx.get());
  LoadRequestSpec spec;
  spec.url = server.url("/tls");
  spec.ca_file = *base_ + ".pem";
  auto summary = run(spec, 2, 2, 200, 500ms);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 100) << summary->first_error;
  EXPECT_EQ(summary->totals.tls_handshakes, 2);
  EXPECT_EQ(server.requests(), 100);
}

TEST_F(LoadGeneratorH2, NewConnectionAfterEveryNRequests) {
  auto ctx = server_ctx();
  testing::TestH2Server server(ctx.get());
  LoadRequestSpec spec;
  spec.url = server.url("/rotate");
  spec.ca_file = *base_ + ".pem";
  LoadOptions options;
  options.connections = 1;
  options.h2 = true;
  options.streams = 2;
  options.requests_per_connection = 5;
  SystemTimeSource time;
  auto summary = LoadGenerator(time, spec, options).run({{"h2", 100, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_GE(t.completed, 20) << summary->first_error;
  EXPECT_EQ(t.completed, t.sent);
  EXPECT_EQ(t.errors + t.connect_errors + t.timeouts, 0) << summary->first_error;
  EXPECT_GE(t.tls_handshakes, (t.completed + 4) / 5);
  EXPECT_LE(t.tls_handshakes, (t.completed + 4) / 5 + 1);
  EXPECT_EQ(server.connections(), t.tls_handshakes);
}

TEST_F(LoadGeneratorH2, StreamsRunConcurrentlyOnOneConnection) {
  for (int streams : {8, 1}) {
    testing::TestH2Server server;
    LoadRequestSpec spec;
    spec.url = server.url("/max");
    auto summary = run(spec, 1, streams, 0, 300ms);  // closed loop: keep every stream busy
    ASSERT_TRUE(summary.ok()) << summary.error().message;
    EXPECT_GT(summary->totals.completed, 10) << summary->first_error;
    EXPECT_EQ(summary->totals.errors, 0) << summary->first_error;
    EXPECT_EQ(server.connections(), 1);
    if (streams > 1) {
      EXPECT_GE(server.max_batch(), 2);
    } else {
      EXPECT_EQ(server.max_batch(), 1);
    }
  }
}

TEST_F(LoadGeneratorH2, AServerWithoutH2IsAConnectError) {
  auto ctx = server_ctx();  // no ALPN selection: HTTP/1.1 only
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; }, ctx.get());
  LoadRequestSpec spec;
  spec.url = server.url("/");
  spec.ca_file = *base_ + ".pem";
  auto summary = run(spec, 1, 1, 50, 300ms);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 0);
  EXPECT_GT(summary->totals.connect_errors, 0);
  EXPECT_NE(summary->first_error.find("did not negotiate h2"), std::string::npos)
      << summary->first_error;
}

TEST_F(LoadGeneratorH2, StreamsWithoutH2AreABadOption) {
  LoadRequestSpec spec;
  spec.url = "http://127.0.0.1:1/";
  LoadOptions options;
  options.streams = 4;
  SystemTimeSource time;
  auto checked = LoadGenerator(time, spec, options).check({{"x", 10, -1, 1s}});
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, "bad_options");
}

}  // namespace
}  // namespace gatedrill
