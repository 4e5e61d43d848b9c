// `gatedrill loadgen` in process: exit codes, the one-line errors, and the --json report.
#include "loadgen/loadgen_command.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/base64url.hpp"
#include "core/histogram/histogram.hpp"
#include "core/util/json.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "loadgen");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int code = loadgen_command(static_cast<int>(argv.size()), argv.data());
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  return {code, out, err};
}

TEST(LoadgenCommand, BadUrlAndOptionsExit2WithOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases = {
      {{"ftp://127.0.0.1/"}, "http://"},
      {{"http://127.0.0.1:1/", "--rate", "fast"}, "--rate"},
      {{"http://127.0.0.1:1/", "--rate", "-3"}, "--rate"},
      {{"http://127.0.0.1:1/", "--duration", "soon"}, "soon"},
      {{"http://127.0.0.1:1/", "--connections", "0"}, "--connections"},
      {{"http://127.0.0.1:1/", "--connections", "2", "--threads", "4"}, "threads"},
      {{"http://127.0.0.1:1/", "--header", "NoColon"}, "--header"},
      {{"https://127.0.0.1:1/", "--cacert", "x.pem", "--insecure"}, "exclude"},
      {{"http://127.0.0.1:1/", "--token-file", "/nonexistent/tokens"}, "token file"},
      {{"http://127.0.0.1:1/", "--rat", "5"}, "--rate"},
      {{"https://127.0.0.1:1/", "--cert", "c.pem"}, "--cert and --key"},
      {{"https://127.0.0.1:1/", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/c.key"},
       "client certificate"},
      {{"http://127.0.0.1:1/", "--sni", "gw.test"}, "https"},
      {{"http://127.0.0.1:1/", "--bad-token-share", "0.1"}, "--token-file"},
      {{"http://127.0.0.1:1/", "--bad-token-share", "2"}, "0..1"},
      {{"http://127.0.0.1:1/", "--path", "a:3"}, "must start with '/'"},
      {{"http://127.0.0.1:1/", "--path", "/a:0"}, "weight"},
      {{"http://127.0.0.1:1/", "--connections", "2", "--processes", "3"}, "--processes"},
      {{"http://127.0.0.1:1/", "--streams", "4"}, "--h2"},
      {{"http://127.0.0.1:1/", "--h2", "--streams", "0"}, "--streams"},
      {{"http://127.0.0.1:1/", "--handshake-every", "-1"}, "--handshake-every"},
      {{"http://127.0.0.1:1/", "--handshake-every", "3", "--new-conn-per-request"}, "exclude"},
      {{"http://127.0.0.1:1/", "--steps", "100:1s,fast:1s"}, "step 2 'fast:1s'"},
      {{"http://127.0.0.1:1/", "--steps", "100"}, "RATE:DURATION"},
      {{"http://127.0.0.1:1/", "--steps", "100:1s", "--rate", "5"}, "--steps replaces"},
      {{"http://127.0.0.1:1/", "--steps", "100:1s", "--duration", "5s"}, "--steps replaces"},
      {{"http://127.0.0.1:1/", "--jitter", "1.5"}, "--jitter"},
      {{"http://127.0.0.1:1/", "--jitter", "some"}, "--jitter"},
      {{"http://127.0.0.1:1/", "--pipeline", "0"}, "--pipeline"},
      {{"http://127.0.0.1:1/", "--h2", "--pipeline", "4"}, "--streams"},
      {{}, "URL"},
  };
  for (const auto& c : cases) {
    Outcome o = run_cli(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(o.code, 2) << joined << "\n" << o.err;
    EXPECT_NE(o.err.find("error: "), std::string::npos) << joined << "\n" << o.err;
    EXPECT_NE(o.err.find(c.says), std::string::npos) << joined << "\n" << o.err;
  }
}

TEST(LoadgenCommand, RunsAndWritesEverythingToJson) {
  testing::TestHttpServer server([](int64_t n) { return testing::Reply{n % 4 == 0 ? 404 : 200}; });
  std::string tokens = ::testing::TempDir() + "/loadgen_tokens_" + std::to_string(::getpid());
  std::ofstream(tokens) << "tok-a\n\ntok-b\n";
  std::string json =
      ::testing::TempDir() + "/loadgen_report_" + std::to_string(::getpid()) + ".json";
  Outcome o = run_cli({server.url("/x"), "--rate", "200", "--duration", "1s", "--connections", "2",
                       "--token-file", tokens, "--header", "X-Run: 1", "--json", json, "--quiet"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("Requests/sec:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("99.990%"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("404: 50"), std::string::npos) << o.out;
  EXPECT_EQ(o.err, "");  // --quiet: no status lines

  std::stringstream text;
  text << std::ifstream(json).rdbuf();
  auto report = parse_json_object(text.str());
  ASSERT_TRUE(report.ok()) << text.str();
  const auto& totals = report->at("totals").as_object();
  EXPECT_EQ(totals.at("sent").as_int64(), 200);
  EXPECT_EQ(totals.at("completed").as_int64(), 200);
  EXPECT_EQ(totals.at("status").as_object().at("404").as_int64(), 50);
  EXPECT_EQ(report->at("intervals").as_array().size(), 1u);
  // The encoded histogram is standard base64 of an HdrHistogram V2 blob holding every response.
  std::string b64(totals.at("latency").as_object().at("hdr_base64").as_string());
  for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  auto blob = base64url_decode(b64);
  ASSERT_TRUE(blob.ok());
  auto histogram = Histogram::decode(*blob);
  ASSERT_TRUE(histogram.ok()) << histogram.error().message;
  EXPECT_EQ(histogram->count(), 200);
  std::remove(tokens.c_str());
  std::remove(json.c_str());
}

TEST(LoadgenCommand, WeightedPathsAndBadTokensReachTheServerInTheirShares) {
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; });
  std::string tokens = ::testing::TempDir() + "/loadgen_mix_tokens_" + std::to_string(::getpid());
  std::ofstream(tokens) << "h.good1.Ssig\nh.good2.Ssig\n";
  Outcome o = run_cli({server.url("/unused"), "--rate", "400", "--duration", "500ms",
                       "--connections", "2", "--token-file", tokens, "--path", "/a:3", "--path",
                       "/b?q=1:1", "--bad-token-share", "0.25", "--quiet"});
  std::remove(tokens.c_str());
  ASSERT_EQ(o.code, 0) << o.err;
  std::vector<std::string> heads = server.heads();
  ASSERT_EQ(heads.size(), 200u);
  int a = 0, b = 0, bad = 0, good = 0;
  for (const auto& h : heads) {
    a += h.rfind("GET /a HTTP/1.1\r\n", 0) == 0 ? 1 : 0;
    b += h.rfind("GET /b?q=1 HTTP/1.1\r\n", 0) == 0 ? 1 : 0;
    bad += h.find("Authorization: Bearer h.good1.Asig\r\n") != std::string::npos ||
                   h.find("Authorization: Bearer h.good2.Asig\r\n") != std::string::npos
               ? 1
               : 0;
    good += h.find(".Ssig\r\n") != std::string::npos ? 1 : 0;
  }
  // One thread sends consecutive entries of the mix, whose shares hold in every stretch.
  EXPECT_EQ(a + b, 200);
  EXPECT_NEAR(b, 50, 1);
  EXPECT_EQ(bad + good, 200);
  EXPECT_NEAR(bad, 50, 1);
}

TEST(LoadgenCommand, ProcessesPrintOneMergedSummary) {
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; });
  std::string json =
      ::testing::TempDir() + "/loadgen_procs_" + std::to_string(::getpid()) + ".json";
  Outcome o = run_cli({server.url("/p"), "--rate", "300", "--duration", "1s", "--connections", "3",
                       "--processes", "3", "--json", json});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("3 processes x 1 threads and 3 connections"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("300 requests in"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Status: 200: 300"), std::string::npos) << o.out;
  // One status line per merged second, not one per process.
  EXPECT_NE(o.err.find("[  1s/1s]"), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find("[  2s/"), std::string::npos) << o.err;
  std::stringstream text;
  text << std::ifstream(json).rdbuf();
  std::remove(json.c_str());
  auto report = parse_json_object(text.str());
  ASSERT_TRUE(report.ok()) << text.str();
  EXPECT_EQ(report->at("processes").as_int64(), 3);
  EXPECT_EQ(report->at("totals").as_object().at("completed").as_int64(), 300);
  EXPECT_EQ(server.requests(), 300);
}

TEST(LoadgenCommand, StepsRunAsPhasesEachAtItsRate) {
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; });
  std::string json =
      ::testing::TempDir() + "/loadgen_steps_" + std::to_string(::getpid()) + ".json";
  Outcome o = run_cli({server.url("/s"), "--steps", "100:500ms,300:500ms,200:1s", "--connections",
                       "2", "--jitter", "0.3", "--json", json, "--quiet"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("steps 100:500ms,300:500ms,200:1s"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("step2"), std::string::npos) << o.out;  // the per-phase lines
  std::stringstream text;
  text << std::ifstream(json).rdbuf();
  std::remove(json.c_str());
  auto report = parse_json_object(text.str());
  ASSERT_TRUE(report.ok()) << text.str();
  const auto& phases = report->at("phases").as_array();
  ASSERT_EQ(phases.size(), 3u);
  const int64_t expected[] = {50, 150, 200};
  for (size_t i = 0; i < 3; ++i) {
    const auto& p = phases[i].as_object();
    EXPECT_EQ(p.at("name").as_string(), "step" + std::to_string(i + 1));
    EXPECT_EQ(p.at("completed").as_int64(), expected[i]) << i;
  }
  const auto& seconds = report->at("intervals").as_array();
  ASSERT_EQ(seconds.size(), 2u);
  EXPECT_DOUBLE_EQ(seconds[0].as_object().at("target_rate").as_double(), 200);  // 50 + 150
  EXPECT_DOUBLE_EQ(seconds[1].as_object().at("target_rate").as_double(), 200);
  EXPECT_EQ(server.requests(), 400);
}

TEST(LoadgenCommand, NoResponseAtAllExits1) {
  Outcome o = run_cli({"http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/", "--rate",
                       "50", "--duration", "300ms", "--connections", "1"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.out.find("Errors: connect"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace gatedrill
