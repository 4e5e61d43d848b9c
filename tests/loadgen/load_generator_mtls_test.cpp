// The load generator's TLS client options against a local server: client certificates (a server
// that requires one), SNI, session resumption on and off, and a new handshake per request.
// Certificates come from core/crypto's x509 helpers, issued by a throwaway CA per suite.
#include <openssl/ssl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto/keys.hpp"
#include "core/crypto/openssl_ptr.hpp"
#include "core/crypto/x509.hpp"
#include "loadgen/load_generator.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;
using testing::Reply;
using testing::TestHttpServer;

// Names the clients sent as SNI, recorded by the server's callback.
std::mutex g_sni_mutex;
std::vector<std::string> g_sni_seen;

int record_sni(SSL* ssl, int*, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  std::lock_guard<std::mutex> lock(g_sni_mutex);
  g_sni_seen.emplace_back(name != nullptr ? name : "");
  return SSL_TLSEXT_ERR_OK;
}

class LoadGeneratorMtls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/loadgen_mtls_" + std::to_string(::getpid()));
    std::string mkdir = "mkdir -p '" + *dir_ + "'";
    ASSERT_EQ(std::system(mkdir.c_str()), 0);
    SystemTimeSource time;
    int64_t now = time.wall_seconds();
    auto issue_ca = [&](const std::string& name) {
      Key key = *Key::generate(KeyType::kEcP256);
      CertRequest ca;
      ca.common_name = name;
      ca.is_ca = true;
      ca.server_auth = false;
      ca.not_before_s = now - 3600;
      ca.not_after_s = now + 86400;
      return *issue_certificate(ca, key, "", key);
    };
    auto issue_leaf = [&](const Certificate& ca, const std::string& name, bool client,
                          const std::string& file) {
      Key key = *Key::generate(KeyType::kEcP256);
      CertRequest leaf;
      leaf.common_name = name;
      if (client) {
        leaf.uris = {"spiffe://gatedrill.test/ns/load/sa/loadgen"};
        leaf.server_auth = false;
        leaf.client_auth = true;
      } else {
        leaf.ip_addresses = {"127.0.0.1"};
        leaf.dns_names = {"gw.test"};
      }
      leaf.not_before_s = now - 3600;
      leaf.not_after_s = now + 86400;
      write(file + ".pem", issue_certificate(leaf, key, ca.pem, ca.key)->pem + ca.pem);
      write(file + ".key", key.private_pem());
    };
    Certificate ca = issue_ca("loadgen test CA");
    Certificate other_ca = issue_ca("another CA");
    write("ca.pem", ca.pem);
    issue_leaf(ca, "server", false, "server");
    issue_leaf(ca, "loadgen", true, "client");
    issue_leaf(other_ca, "stranger", true, "stranger");
  }
  static void TearDownTestSuite() {
    std::string rm = "rm -rf '" + *dir_ + "'";
    (void)std::system(rm.c_str());
    delete dir_;
  }
  void SetUp() override {
    std::lock_guard<std::mutex> lock(g_sni_mutex);
    g_sni_seen.clear();
  }

  static std::string path(const std::string& name) { return *dir_ + "/" + name; }
  static void write(const std::string& name, const std::string& text) {
    std::ofstream(path(name)) << text;
  }

  // A server with the test CA's certificate; require_client: only clients with a certificate
  // from the test CA get through the handshake.
  static SslCtxPtr server_ctx(bool require_client, int max_version = 0) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), path("server.pem").c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), path("server.key").c_str(), SSL_FILETYPE_PEM),
              1);
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), record_sni);
    static const unsigned char kContext[] = "loadgen-test";
    SSL_CTX_set_session_id_context(ctx.get(), kContext, sizeof kContext - 1);
    if (require_client) {
      EXPECT_EQ(SSL_CTX_load_verify_locations(ctx.get(), path("ca.pem").c_str(), nullptr), 1);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return ctx;
  }

  static LoadRequestSpec spec_for(const TestHttpServer& server, const std::string& client) {
    LoadRequestSpec spec;
    spec.url = server.url("/mtls");
    spec.ca_file = path("ca.pem");
    if (!client.empty()) {
      spec.client_cert_file = path(client + ".pem");
      spec.client_key_file = path(client + ".key");
    }
    return spec;
  }

  static Result<LoadSummary> run(const LoadRequestSpec& spec, int requests_per_connection = 0) {
    LoadOptions options;
    options.connections = 2;
    options.requests_per_connection = requests_per_connection;
    SystemTimeSource time;
    LoadGenerator generator(time, spec, options);
    return generator.run({{"tls", 100, -1, 500ms}});
  }

  static std::string* dir_;
};

std::string* LoadGeneratorMtls::dir_ = nullptr;

TEST_F(LoadGeneratorMtls, PresentsTheClientCertificateToAServerThatRequiresIt) {
  auto ctx = server_ctx(true);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  auto summary = run(spec_for(server, "client"));
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 50);
  EXPECT_EQ(summary->totals.status_counts.at(200), 50);
  EXPECT_EQ(summary->totals.connect_errors + summary->totals.errors, 0) << summary->first_error;
  EXPECT_EQ(server.requests(), 50);
}

TEST_F(LoadGeneratorMtls, WithoutACertificateOrWithAStrangersNothingGetsThrough) {
  auto ctx = server_ctx(true);
  for (std::string client : {"", "stranger"}) {
    TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
    auto summary = run(spec_for(server, client));
    ASSERT_TRUE(summary.ok()) << summary.error().message;
    EXPECT_EQ(summary->totals.completed, 0) << client;
    // TLS 1.3 finishes the client's side of the handshake before the server checks the
    // certificate, so the refusal shows as a handshake or a read failure.
    EXPECT_GT(summary->totals.connect_errors + summary->totals.errors, 0) << client;
    EXPECT_FALSE(summary->first_error.empty()) << client;
    EXPECT_EQ(server.requests(), 0) << client;
  }
}

TEST_F(LoadGeneratorMtls, BadClientCertificateFilesAreBadOptions) {
  auto ctx = server_ctx(false);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  struct Case {
    std::string cert, key, says;
  };
  std::vector<Case> cases = {
      {path("client.pem"), "", "both"},
      {path("missing.pem"), path("client.key"), "client certificate"},
      {path("client.pem"), path("missing.key"), "client key"},
      {path("client.pem"), path("stranger.key"), "does not match"},
  };
  for (const auto& c : cases) {
    LoadRequestSpec spec = spec_for(server, "");
    spec.client_cert_file = c.cert;
    spec.client_key_file = c.key;
    SystemTimeSource time;
    LoadGenerator generator(time, spec, LoadOptions{});
    auto checked = generator.check({{"x", 10, -1, 1s}});
    ASSERT_FALSE(checked.ok()) << c.says;
    EXPECT_EQ(checked.error().code, "bad_options");
    EXPECT_NE(checked.error().message.find(c.says), std::string::npos) << checked.error().message;
  }
  LoadRequestSpec plain;
  plain.url = "http://127.0.0.1:1/";
  plain.sni = "gw.test";
  SystemTimeSource time;
  auto checked = LoadGenerator(time, plain, LoadOptions{}).check({{"x", 10, -1, 1s}});
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message.find("https"), std::string::npos) << checked.error().message;
}

TEST_F(LoadGeneratorMtls, SendsTheSniNameAndChecksTheCertificateAgainstIt) {
  auto ctx = server_ctx(false);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  LoadRequestSpec spec = spec_for(server, "");
  spec.sni = "gw.test";
  auto summary = run(spec);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 50) << summary->first_error;
  {
    std::lock_guard<std::mutex> lock(g_sni_mutex);
    ASSERT_FALSE(g_sni_seen.empty());
    for (const auto& name : g_sni_seen) EXPECT_EQ(name, "gw.test");
    g_sni_seen.clear();
  }

  spec.sni = "elsewhere.test";  // not in the certificate
  summary = run(spec);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 0);
  EXPECT_NE(summary->first_error.find("certificate verify failed"), std::string::npos)
      << summary->first_error;
  {
    std::lock_guard<std::mutex> lock(g_sni_mutex);
    g_sni_seen.clear();
  }

  spec.sni.clear();  // an IP address URL: no SNI at all
  summary = run(spec);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 50) << summary->first_error;
  std::lock_guard<std::mutex> lock(g_sni_mutex);
  for (const auto& name : g_sni_seen) EXPECT_EQ(name, "");
}

// A new connection per request: every request pays a handshake. With resumption, all but each
// connection's first are abbreviated; without, none are. Full handshakes on a busy machine can
// take longer than the schedule's gaps, and requests left unsent at the end are dropped, so
// the checks relate the counts to each other instead of to the plan.
void expect_handshake_per_request(const Result<LoadSummary>& summary, bool resume,
                                  const TestHttpServer& server) {
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_GE(t.completed, 5) << summary->first_error;
  EXPECT_EQ(t.completed, t.sent);
  EXPECT_EQ(t.connect_errors + t.errors + t.timeouts, 0) << summary->first_error;
  // One per request, plus at most one per connection opened after its last response.
  EXPECT_GE(t.tls_handshakes, t.completed);
  EXPECT_LE(t.tls_handshakes, t.completed + 2);
  EXPECT_GE(server.connections(), t.completed);
  if (resume) {
    EXPECT_GE(t.tls_resumed, t.tls_handshakes - 2);
  } else {
    EXPECT_EQ(t.tls_resumed, 0);
  }
}

TEST_F(LoadGeneratorMtls, HandshakePerRequestResumesSessionsOverTls13) {
  auto ctx = server_ctx(true);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  auto summary = run(spec_for(server, "client"), 1);
  expect_handshake_per_request(summary, true, server);
}

TEST_F(LoadGeneratorMtls, HandshakePerRequestResumesSessionsOverTls12) {
  auto ctx = server_ctx(true, TLS1_2_VERSION);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  auto summary = run(spec_for(server, "client"), 1);
  expect_handshake_per_request(summary, true, server);
}

TEST_F(LoadGeneratorMtls, WithoutResumptionEveryHandshakeIsFull) {
  for (int version : {0, TLS1_2_VERSION}) {
    auto ctx = server_ctx(true, version);
    TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
    LoadRequestSpec spec = spec_for(server, "client");
    spec.tls_resume = false;
    auto summary = run(spec, 1);
    expect_handshake_per_request(summary, false, server);
  }
}

TEST_F(LoadGeneratorMtls, HandshakeEveryNRequests) {
  auto ctx = server_ctx(false);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  auto summary = run(spec_for(server, ""), 5);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_GE(t.completed, 10) << summary->first_error;
  EXPECT_EQ(t.completed, t.sent);
  // Each connection: ceil(its responses / 5) handshakes, plus one after a last full batch.
  EXPECT_GE(t.tls_handshakes, (t.completed + 4) / 5);
  EXPECT_LE(t.tls_handshakes, (t.completed + 4) / 5 + 3);
  EXPECT_GE(server.connections(), t.tls_handshakes);
}

// A rotated client certificate (its files rewritten by rename, key first, as an SVID agent
// does) is presented from the next handshake on: here the new pair is a stranger's, so once it
// is in place the server refuses the handshakes that were passing.
TEST_F(LoadGeneratorMtls, RewrittenCertificateFilesArePresentedFromTheNextHandshake) {
  auto ctx = server_ctx(true);
  TestHttpServer server([](int64_t) { return Reply{}; }, ctx.get());
  std::ifstream client_pem(path("client.pem")), client_key(path("client.key"));
  write("rotating.pem", std::string(std::istreambuf_iterator<char>(client_pem), {}));
  write("rotating.key", std::string(std::istreambuf_iterator<char>(client_key), {}));
  LoadRequestSpec spec = spec_for(server, "rotating");
  spec.tls_resume = false;  // a resumed session would carry the old certificate's verdict
  spec.follow_client_cert = true;
  LoadOptions options;
  options.connections = 2;
  options.requests_per_connection = 1;  // a handshake per request
  SystemTimeSource time;
  LoadGenerator generator(time, spec, options);
  Result<LoadSummary> summary = make_error("not_run", "not run");
  std::thread load([&] { summary = generator.run({{"rotate", 100, -1, 1500ms}}); });
  // Rotate once the original certificate has carried some requests (a poll with a deadline).
  for (int polls = 0; polls < 1000 && server.requests() < 10; ++polls)  // at most ~5 s
    std::this_thread::sleep_for(5ms);
  const int64_t before_rotation = server.requests();
  std::ifstream stranger_pem(path("stranger.pem")), stranger_key(path("stranger.key"));
  write("rotating.key.new", std::string(std::istreambuf_iterator<char>(stranger_key), {}));
  write("rotating.pem.new", std::string(std::istreambuf_iterator<char>(stranger_pem), {}));
  ASSERT_EQ(std::rename(path("rotating.key.new").c_str(), path("rotating.key").c_str()), 0);
  ASSERT_EQ(std::rename(path("rotating.pem.new").c_str(), path("rotating.pem").c_str()), 0);
  load.join();
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_GE(before_rotation, 10);
  const LoadTotals& t = summary->totals;
  // The requests before the rotation passed; those after it were refused at the handshake.
  EXPECT_GE(t.completed, before_rotation);
  EXPECT_LT(server.requests(), before_rotation + 10) << "the stranger's certificate got through";
  EXPECT_GT(t.connect_errors + t.errors, 5) << summary->first_error;
}

}  // namespace
}  // namespace gatedrill
