// `gatedrill policy eval|test|lint` in process, stdout captured: the opa eval JSON shape, opa
// test style output and exit codes, lint findings on the seed policies.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/util/json.hpp"
#include "gateway/policy/policy_command.hpp"

namespace gatedrill {
namespace {

namespace fs = std::filesystem;

struct Run {
  int code;
  std::string out;
};

// Runs policy_command with fd 1 redirected to a temporary file.
Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "policy");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::FILE* tmp = std::tmpfile();
  std::fflush(stdout);
  int saved = dup(1);
  dup2(fileno(tmp), 1);
  int code = policy_command(static_cast<int>(args.size()), argv.data());
  std::fflush(stdout);
  dup2(saved, 1);
  close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return {code, out};
}

class PolicyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gatedrill_policy_cli_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

std::string seed(const char* name) {
  return (fs::path(GATEDRILL_SOURCE_DIR) / "tests/policy/seeds" / name).string();
}

TEST_F(PolicyCli, EvalPrintsTheOpaEvalJsonShape) {
  std::string in = write("input.json", R"({"method":"GET","path":["v1","public"]})");
  auto r = run({"eval", "-d", seed("seed000_api_authz.rego"), "-i", in, "data.api.authz.allow"});
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = parse_json(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  const auto& e = j->at("result").at(0).at("expressions").at(0);
  EXPECT_EQ(e.at("value"), boost::json::value(true));
  EXPECT_EQ(e.at("text"), boost::json::value("data.api.authz.allow"));
  EXPECT_EQ(e.at("location"), (boost::json::value{{"row", 1}, {"col", 1}}));
  EXPECT_NE(r.out.find("\n  \"result\": [\n"), std::string::npos) << "indented like opa: " << r.out;
}

TEST_F(PolicyCli, EvalWithDataFileBindingsAndUndefined) {
  std::string pol = write("p.rego", "package p\nroles[u] { data.users[u] == \"admin\" }\n");
  std::string data = write("d.json", R"({"users":{"ann":"admin","bo":"dev"}})");
  auto r = run({"eval", "-d", pol, "-d", data, "x := data.p.roles"});
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = parse_json(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  EXPECT_EQ(j->at("result").at(0).at("bindings").at("x"), (boost::json::array{"ann"}));
  auto u = run({"eval", "-d", pol, "data.p.nothing"});
  EXPECT_EQ(u.code, 0);
  EXPECT_EQ(u.out, "{}\n");
}

TEST_F(PolicyCli, EvalLoadErrorIsJsonWithFileAndLine) {
  std::string pol = write("bad.rego", "package p\n\nallow {\n  input.x ==\n}\n");
  auto r = run({"eval", "-d", pol, "data.p.allow"});
  EXPECT_EQ(r.code, 1);
  auto j = parse_json(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  // OPA's error shape: the place in "location", the message without it.
  const auto& err = j->at("errors").at(0);
  EXPECT_EQ(err.at("code"), boost::json::value("rego_parse_error"));
  EXPECT_EQ(err.at("location").at("file"), boost::json::value(pol));
  EXPECT_EQ(err.at("location").at("row"), boost::json::value(5));
  EXPECT_EQ(std::string(err.at("message").as_string()).find("bad.rego"), std::string::npos)
      << r.out;
}

TEST_F(PolicyCli, EvalQueryErrorHasALocation) {
  auto r = run({"eval", "-d", seed("seed000_api_authz.rego"), "data.api.authz.allow =="});
  EXPECT_EQ(r.code, 1);
  auto j = parse_json(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  const auto& err = j->at("errors").at(0);
  EXPECT_EQ(err.at("code"), boost::json::value("rego_parse_error"));
  EXPECT_EQ(err.at("location").at("row"), boost::json::value(1)) << r.out;
}

TEST_F(PolicyCli, EvalUsageErrorsExitTwo) {
  EXPECT_EQ(run({"eval", "-d", seed("seed000_api_authz.rego")}).code, 2);  // no query
  EXPECT_EQ(run({"frobnicate"}).code, 2);
  EXPECT_EQ(run({"eval", "--format", "pretty", "data"}).code, 2);
}

TEST_F(PolicyCli, TestPassesAndFailsLikeOpaTest) {
  write("ok/authz.rego", "package authz\nallow { input.role == \"admin\" }\n");
  write("ok/authz_test.rego",
        "package authz\ntest_admin { allow with input as {\"role\": \"admin\"} }\n"
        "test_guest { not allow with input as {\"role\": \"guest\"} }\n");
  auto ok = run({"test", (dir_ / "ok").string()});
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("PASS: 2/2"), std::string::npos) << ok.out;

  write("bad/authz.rego", "package authz\nallow { input.role == \"admin\" }\n");
  write("bad/authz_test.rego",
        "package authz\ntest_admin { allow with input as {\"role\": \"admin\"} }\n"
        "test_guest_allowed { allow with input as {\"role\": \"guest\"} }\n");
  auto bad = run({"test", "-v", (dir_ / "bad").string()});
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("data.authz.test_guest_allowed: FAIL"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("data.authz.test_admin: PASS"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("PASS: 1/2"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("FAIL: 1/2"), std::string::npos) << bad.out;
}

TEST_F(PolicyCli, TestGroupsResultsByFileInWrittenOrder) {
  write("grp/a_test.rego", "package z\ntest_z_first { true }\ntest_a_second { false }\n");
  write("grp/b_test.rego", "package a\ntest_b { false }\n");
  auto r = run({"test", "-v", (dir_ / "grp").string()});
  EXPECT_EQ(r.code, 1) << r.out;
  // Each file once, its tests in source order (not sorted by name or package).
  size_t a = r.out.find("a_test.rego:\n");
  size_t first = r.out.find("data.z.test_z_first: PASS");
  size_t second = r.out.find("data.z.test_a_second: FAIL");
  size_t b = r.out.find("b_test.rego:\n");
  size_t third = r.out.find("data.a.test_b: FAIL");
  ASSERT_NE(a, std::string::npos) << r.out;
  ASSERT_NE(b, std::string::npos) << r.out;
  EXPECT_LT(a, first) << r.out;
  EXPECT_LT(first, second) << r.out;
  EXPECT_LT(second, b) << r.out;
  EXPECT_LT(b, third) << r.out;
  EXPECT_EQ(r.out.find("a_test.rego:\n", a + 1), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS: 1/3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL: 2/3"), std::string::npos) << r.out;
}

TEST_F(PolicyCli, LintFlagsTheSeedsAndPassesCleanPolicies) {
  auto r = run({"lint", seed("seed002_envoy_authz.rego")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("seed002_envoy_authz.rego:13: [jwt-bearer-header]"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[jwt-decode-unverified]"), std::string::npos) << r.out;
  auto s3 = run({"lint", seed("seed003_registry_authz.rego")});
  EXPECT_EQ(s3.code, 1);
  EXPECT_NE(s3.out.find("[jwt-decode-order]"), std::string::npos) << s3.out;
  std::string clean =
      write("clean.rego", "package p\ndefault allow = false\nallow { input.user == \"root\" }\n");
  auto c = run({"lint", clean});
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(c.out, "");
}

}  // namespace
}  // namespace gatedrill
