#include "loadgen/request_plan.hpp"

#include <gtest/gtest.h>

namespace gatedrill::loadgen {
namespace {

TEST(ParseUrl, AcceptsHttpAndHttpsWithPortsPathsAndIpv6) {
  auto a = parse_url("http://127.0.0.1:8080/api/v1?x=1#frag");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->target, "/api/v1?x=1");
  EXPECT_EQ(a->host_header(), "127.0.0.1:8080");

  auto b = parse_url("https://gw.example");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, 443);
  EXPECT_EQ(b->target, "/");
  EXPECT_EQ(b->host_header(), "gw.example");

  auto c = parse_url("http://[::1]:9000?q");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->target, "/?q");
  EXPECT_EQ(c->host_header(), "[::1]:9000");
}

TEST(ParseUrl, RejectsWhatItCannotSendWithBadUrl) {
  for (const char* url : {"", "ftp://x/", "127.0.0.1:80", "http://", "http://:80/", "http://h:0/",
                          "http://h:65536/", "http://h:80x/", "http://h:/", "http://[::1/",
                          "http://u:p@h/", "http://h/a b", "http://[::1]x/"}) {
    auto r = parse_url(url);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, "bad_url") << url;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(BuildRequests, OnePerTokenWithHostHeadersAndBody) {
  auto target = parse_url("http://127.0.0.1:81/p");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec spec;
  spec.method = "POST";
  spec.headers = {{"X-Test", "1"}};
  spec.body = "abc";
  spec.bearer_tokens = {"t1", "t2"};
  auto requests = build_requests(*target, spec);
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 2u);
  EXPECT_EQ((*requests)[0],
            "POST /p HTTP/1.1\r\nHost: 127.0.0.1:81\r\nX-Test: 1\r\nContent-Length: 3\r\n"
            "Authorization: Bearer t1\r\n\r\nabc");
  EXPECT_NE((*requests)[1].find("Authorization: Bearer t2\r\n"), std::string::npos);
}

TEST(BuildRequests, RejectsHeaderInjectionAndBadMethods) {
  auto target = parse_url("http://h/");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec a;
  a.headers = {{"X", "a\r\nInjected: 1"}};
  LoadRequestSpec b;
  b.method = "GET /x";
  LoadRequestSpec c;
  c.headers = {{"Bad Name", "v"}};
  LoadRequestSpec d;
  d.bearer_tokens = {"has space"};
  for (const auto* spec : {&a, &b, &c, &d}) {
    auto r = build_requests(*target, *spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "bad_options");
  }
}

int count_containing(const std::vector<std::string>& requests, const std::string& needle) {
  int n = 0;
  for (const auto& r : requests) n += r.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

TEST(BuildRequests, WeightedPathsComeInExactProportionAndSpreadOut) {
  auto target = parse_url("http://h/ignored");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec spec;
  spec.paths = {{"/a", 3}, {"/b?x=1", 1}};
  auto requests = build_requests(*target, spec);
  ASSERT_TRUE(requests.ok()) << requests.error().message;
  ASSERT_EQ(requests->size(), 1000u);
  EXPECT_EQ(count_containing(*requests, "GET /a HTTP/1.1\r\n"), 750);
  EXPECT_EQ(count_containing(*requests, "GET /b?x=1 HTTP/1.1\r\n"), 250);
  EXPECT_EQ(count_containing(*requests, "/ignored"), 0);
  // Smooth: within every window of 4 consecutive requests, /b exactly once.
  for (size_t i = 0; i + 4 <= requests->size(); ++i)
    EXPECT_EQ(count_containing({requests->begin() + static_cast<long>(i),
                                requests->begin() + static_cast<long>(i) + 4},
                               "GET /b"),
              1)
        << i;
}

TEST(BuildRequests, BadTokenShareIsExactOverTheCycleAndEveryGoodTokenIsUsed) {
  auto target = parse_url("http://h/");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec spec;
  for (int i = 0; i < 1500; ++i)
    spec.bearer_tokens.push_back("hdr.payload" + std::to_string(i) + ".Ssig");
  spec.bad_token_share = 0.05;
  auto requests = build_requests(*target, spec);
  ASSERT_TRUE(requests.ok()) << requests.error().message;
  // Every good token needs a slot: ceil(1500 / 0.95) = 1579.
  ASSERT_EQ(requests->size(), 1579u);
  int bad = count_containing(*requests, ".Asig\r\n");
  EXPECT_EQ(bad, 78);  // floor(1579 * 0.05)
  EXPECT_EQ(count_containing(*requests, ".Ssig\r\n"), 1579 - bad);
  for (int i : {0, 777, 1499})
    EXPECT_GE(count_containing(*requests, "payload" + std::to_string(i) + ".Ssig\r\n"), 1) << i;
  // Spread evenly: never two bad ones within 19 requests of each other.
  int last = -100;
  for (size_t i = 0; i < requests->size(); ++i)
    if ((*requests)[i].find(".Asig") != std::string::npos) {
      EXPECT_GE(static_cast<int>(i) - last, 19) << i;
      last = static_cast<int>(i);
    }
}

TEST(BuildRequests, GivenBadTokensAreUsedInsteadOfCorruptedOnes) {
  auto target = parse_url("http://h/");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec spec;
  spec.bearer_tokens = {"good.token.sig"};
  spec.bad_bearer_tokens = {"expired.token.sig"};
  spec.bad_token_share = 0.25;
  auto requests = build_requests(*target, spec);
  ASSERT_TRUE(requests.ok()) << requests.error().message;
  ASSERT_EQ(requests->size(), 1000u);
  EXPECT_EQ(count_containing(*requests, "Bearer expired.token.sig\r\n"), 250);
  EXPECT_EQ(count_containing(*requests, "Bearer good.token.sig\r\n"), 750);
}

TEST(BuildRequests, RejectsBadSharesWeightsAndPaths) {
  auto target = parse_url("http://h/");
  ASSERT_TRUE(target.ok());
  LoadRequestSpec no_tokens;
  no_tokens.bad_token_share = 0.1;
  LoadRequestSpec too_big;
  too_big.bearer_tokens = {"t"};
  too_big.bad_token_share = 1.5;
  LoadRequestSpec zero_weight;
  zero_weight.paths = {{"/a", 0}};
  LoadRequestSpec relative;
  relative.paths = {{"a", 1}};
  LoadRequestSpec bad_bad;
  bad_bad.bearer_tokens = {"t"};
  bad_bad.bad_bearer_tokens = {"x y"};
  bad_bad.bad_token_share = 0.5;
  for (const auto* spec : {&no_tokens, &too_big, &zero_weight, &relative, &bad_bad}) {
    auto r = build_requests(*target, *spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "bad_options");
  }
}

TEST(ParseWeightedPath, WeightAfterTheLastColon) {
  auto a = parse_weighted_path("/a:3");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->path, "/a");
  EXPECT_EQ(a->weight, 3);
  auto b = parse_weighted_path("/b?t=1:2:x");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->path, "/b?t=1:2:x");
  EXPECT_EQ(b->weight, 1);
  for (const char* bad : {"a:3", "/a:0", "/a:99999999999", ":4", ""}) {
    auto r = parse_weighted_path(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "bad_options");
  }
}

TEST(CorruptToken, ChangesTheSignatureOnly) {
  EXPECT_EQ(corrupt_token("h.p.Sig"), "h.p.Aig");
  EXPECT_EQ(corrupt_token("h.p.Aig"), "h.p.Big");
  EXPECT_EQ(corrupt_token("opaque"), "opaquex");
}

}  // namespace
}  // namespace gatedrill::loadgen
