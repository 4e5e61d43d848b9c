// The load generator over TLS against a throwaway self-signed certificate for 127.0.0.1.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "core/crypto/openssl_ptr.hpp"
#include "loadgen/load_generator.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;
using testing::Reply;
using testing::TestHttpServer;

struct Identity {
  std::string cert_file;
  std::string key_file;
};

// A self-signed P-256 certificate valid for IP 127.0.0.1, written as PEM files.
Identity make_identity(const std::string& name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  std::string base =
      ::testing::TempDir() + "/loadgen_tls_" + std::to_string(::getpid()) + "_" + name;
  Identity id{base + ".crt", base + ".key"};
  FILE* f = std::fopen(id.cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(id.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return id;
}

SslCtxPtr server_ctx(const Identity& id, int max_version = 0) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  EXPECT_EQ(SSL_CTX_use_certificate_file(ctx.get(), id.cert_file.c_str(), SSL_FILETYPE_PEM), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), id.key_file.c_str(), SSL_FILETYPE_PEM), 1);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  return ctx;
}

class LoadGeneratorTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_id_ = new Identity(make_identity("server"));
    other_id_ = new Identity(make_identity("other"));
  }
  static void TearDownTestSuite() {
    for (Identity* id : {server_id_, other_id_}) {
      std::remove(id->cert_file.c_str());
      std::remove(id->key_file.c_str());
      delete id;
    }
  }

  Result<LoadSummary> run_against(SSL_CTX* ctx, const std::string& ca_file, bool insecure) {
    TestHttpServer server([](int64_t) { return Reply{}; }, ctx);
    LoadRequestSpec spec;
    spec.url = server.url("/tls");
    spec.ca_file = ca_file;
    spec.insecure = insecure;
    LoadOptions options;
    options.connections = 2;
    SystemTimeSource time;
    LoadGenerator generator(time, spec, options);
    return generator.run({{"tls", 100, -1, 500ms}});
  }

  static Identity* server_id_;
  static Identity* other_id_;
};

Identity* LoadGeneratorTls::server_id_ = nullptr;
Identity* LoadGeneratorTls::other_id_ = nullptr;

TEST_F(LoadGeneratorTls, VerifiesTheServerAgainstTheCaFileOverTls13) {
  auto ctx = server_ctx(*server_id_);
  auto summary = run_against(ctx.get(), server_id_->cert_file, false);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 50);
  EXPECT_EQ(summary->totals.completed, 50);
  EXPECT_EQ(summary->totals.status_counts.at(200), 50);
  EXPECT_EQ(summary->totals.connect_errors, 0) << summary->first_error;
}

TEST_F(LoadGeneratorTls, SpeaksTls12ToAServerCappedAtIt) {
  auto ctx = server_ctx(*server_id_, TLS1_2_VERSION);
  auto summary = run_against(ctx.get(), server_id_->cert_file, false);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 50);
  EXPECT_EQ(summary->totals.connect_errors, 0) << summary->first_error;
}

TEST_F(LoadGeneratorTls, AnUntrustedCertificateIsAConnectErrorNotAFailure) {
  auto ctx = server_ctx(*server_id_);
  auto summary = run_against(ctx.get(), other_id_->cert_file, false);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 0);
  EXPECT_GT(summary->totals.connect_errors, 0);
  EXPECT_NE(summary->first_error.find("certificate verify failed"), std::string::npos)
      << summary->first_error;
}

TEST_F(LoadGeneratorTls, InsecureSkipsVerification) {
  auto ctx = server_ctx(*server_id_);
  auto summary = run_against(ctx.get(), "", true);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.completed, 50);
  EXPECT_EQ(summary->totals.connect_errors, 0) << summary->first_error;
}

TEST_F(LoadGeneratorTls, PipelinesOverTls) {
  // Every 50th request is answered after 60 ms; at 400/s the three requests planned next go out
  // behind it on the same TLS connection, so they too wait ~50-58 ms from their actual send.
  auto ctx = server_ctx(*server_id_);
  TestHttpServer server(
      [](int64_t n) {
        Reply r;
        r.delay_ms = n % 50 == 0 ? 60 : 0;
        return r;
      },
      ctx.get());
  LoadRequestSpec spec;
  spec.url = server.url("/tls-pipe");
  spec.ca_file = server_id_->cert_file;
  LoadOptions options;
  options.connections = 1;
  options.pipeline = 4;
  SystemTimeSource time;
  LoadGenerator generator(time, spec, options);
  auto summary = generator.run({{"tls", 400, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 200);
  EXPECT_EQ(summary->totals.completed, 200);
  EXPECT_EQ(summary->totals.errors, 0) << summary->first_error;
  EXPECT_EQ(server.connections(), 1);
  // 4 stalls x (the stalled request + 3 behind it) = 16 of 200 with a long actual latency;
  // without pipelining it would be the 4 stalled ones alone (2%).
  EXPECT_GE(summary->totals.latency_actual.percentile(95), 40'000'000);
}

}  // namespace
}  // namespace gatedrill
