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

}  // namespace
}  // namespace gatedrill::loadgen
