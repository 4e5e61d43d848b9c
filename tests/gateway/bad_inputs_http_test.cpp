// BAD-INPUTS.md, HTTP/1.1 section, against a real gateway on loopback: each input gets the
// exact status (400 + close unless noted) and a valid request is served right after.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {
namespace {

class BadHttpInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = base_config(idp_, upstream_.url());
    config.data.header_timeout = std::chrono::milliseconds(400);
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
    auth_ = "Authorization: Bearer " + idp_.token(time_.wall_seconds()) + "\r\n";
  }

  // Sends raw bytes on a fresh connection; returns everything until the gateway closes.
  std::string exchange(const std::string& bytes) {
    RawConnection c(gateway_->port());
    EXPECT_TRUE(c.connected());
    EXPECT_TRUE(c.send_all(bytes));
    return c.read_until_close();
  }

  void expect_status_and_close(const std::string& bytes, const std::string& status,
                               const std::string& what) {
    std::string answer = exchange(bytes);
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 " + status) << what << "\n" << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << what << "\n" << answer;
    expect_still_serving(what);
  }

  void expect_still_serving(const std::string& after) {
    auto r = http_request("GET", "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/ok",
                          {{"Authorization", "Bearer " + idp_.token(time_.wall_seconds())}}, {},
                          quick());
    ASSERT_TRUE(r) << after << ": " << r.error().message;
    EXPECT_EQ(r->status, 200) << after;
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
  std::string auth_;
};

TEST_F(BadHttpInputs, SmugglingFramingIs400AndClose) {
  const std::string h = "POST /x HTTP/1.1\r\nHost: gw\r\n" + auth_;
  struct Case {
    std::string what, bytes;
  };
  const std::vector<Case> cases = {
      {"CL and TE", h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE then CL", h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
      {"TE 'chunked '", h + "Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n"},
      {"TE xchunked", h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
      {"TE with tab", h + "Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"},
      {"TE twice", h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE list", h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
      {"CL twice same", h + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nab"},
      {"CL twice differ", h + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
      {"CL not a number", h + "Content-Length: 2x\r\n\r\nab"},
      {"CL negative", h + "Content-Length: -1\r\n\r\n"},
      {"CL list", h + "Content-Length: 2, 2\r\n\r\nab"},
  };
  for (const auto& c : cases) expect_status_and_close(c.bytes, "400", c.what);
  EXPECT_TRUE(upstream_.seen().size() == cases.size())
      << "only the follow-up requests reached the upstream";
}

TEST_F(BadHttpInputs, MalformedLinesAre400AndClose) {
  struct Case {
    std::string what, bytes;
  };
  const std::vector<Case> cases = {
      {"bare LF", "GET /x HTTP/1.1\nHost: gw\n" + auth_ + "\n"},
      {"bare LF in a header", "GET /x HTTP/1.1\r\nHost: gw\n" + auth_ + "\r\n"},
      {"bare CR", "GET /x HTTP/1.1\rHost: gw\r\n" + auth_ + "\r\n"},
      {"obs-fold", "GET /x HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n  continued\r\n" + auth_ + "\r\n"},
      {"space before colon", "GET /x HTTP/1.1\r\nHost : gw\r\n" + auth_ + "\r\n"},
      {"tab before colon", "GET /x HTTP/1.1\r\nHost: gw\r\nX-A\t: 1\r\n" + auth_ + "\r\n"},
      {"NUL in a value",
       std::string("GET /x HTTP/1.1\r\nHost: gw\r\nX-A: a\0b\r\n", 38) + auth_ + "\r\n"},
      {"missing Host", "GET /x HTTP/1.1\r\n" + auth_ + "\r\n"},
      {"two Hosts", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + auth_ + "\r\n"},
      {"absolute-form other host",
       "GET http://evil.example/x HTTP/1.1\r\nHost: gw\r\n" + auth_ + "\r\n"},
      {"garbage request line", "HELLO\r\n\r\n"},
      {"no field name", "GET /x HTTP/1.1\r\nHost: gw\r\n: v\r\n" + auth_ + "\r\n"},
  };
  for (const auto& c : cases) expect_status_and_close(c.bytes, "400", c.what);
}

TEST_F(BadHttpInputs, AbsoluteFormWithTheSameHostIsServed) {
  std::string answer;
  RawConnection c(gateway_->port());
  ASSERT_TRUE(c.send_all("GET http://gw/abs HTTP/1.1\r\nHost: gw\r\n" + auth_ + "\r\n"));
  auto responses = c.read_responses(1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].substr(0, 12), "HTTP/1.1 200") << responses[0];
}

TEST_F(BadHttpInputs, LimitsGet414And431And413) {
  expect_status_and_close("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: gw\r\n\r\n",
                          "414", "long URI");
  expect_status_and_close(
      "GET /x HTTP/1.1\r\nHost: gw\r\nX-Big: " + std::string(30000, 'b') + "\r\n\r\n", "431",
      "big header");
  std::string many = "GET /x HTTP/1.1\r\nHost: gw\r\n";
  for (int i = 0; i < 200; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  expect_status_and_close(many + "\r\n", "431", "too many headers");
  expect_status_and_close(
      "POST /x HTTP/1.1\r\nHost: gw\r\n" + auth_ + "Content-Length: 5000000\r\n\r\n", "413",
      "body too large");
  // An oversized Authorization header is a header-size problem, not an authn one.
  expect_status_and_close("GET /x HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " +
                              std::string(40000, 'x') + "\r\n\r\n",
                          "431", "huge Authorization");
}

TEST_F(BadHttpInputs, SlowlorisIsClosedByTheHeaderTimeoutWhileOthersAreServed) {
  RawConnection slow(gateway_->port());
  ASSERT_TRUE(slow.send_all("GET /x HTTP/1.1\r\nHost: gw\r\nX-Slow: "));  // never finishes
  expect_still_serving("during slowloris");
  SystemTimeSource clock;
  const int64_t start = clock.monotonic_ms();
  std::string rest = slow.read_until_close();  // returns when the gateway closes
  const int64_t waited = clock.monotonic_ms() - start;
  EXPECT_LT(waited, 3000) << "the header timeout (400 ms) closed the connection";
  EXPECT_TRUE(rest.empty() || rest.substr(0, 8) == "HTTP/1.1") << rest;

  RawConnection slow_body(gateway_->port());
  ASSERT_TRUE(slow_body.send_all("POST /x HTTP/1.1\r\nHost: gw\r\n" + auth_ +
                                 "Content-Length: 100\r\n\r\nabc"));
  const int64_t start_body = clock.monotonic_ms();
  slow_body.read_until_close();
  EXPECT_LT(clock.monotonic_ms() - start_body, 3000);
  expect_still_serving("after slow body");
}

TEST_F(BadHttpInputs, PipelinedRequestsAreAnsweredInOrderWithoutDesync) {
  RawConnection c(gateway_->port());
  std::string batch;
  for (int i = 0; i < 5; ++i) {
    if (i == 2) {
      batch += "POST /p2 HTTP/1.1\r\nHost: gw\r\n" + auth_ + "Content-Length: 4\r\n\r\nbody";
    } else {
      batch += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: gw\r\n" + auth_ + "\r\n";
    }
  }
  batch +=
      "GET /bad HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n";
  ASSERT_TRUE(c.send_all(batch));
  auto responses = c.read_responses(6);
  ASSERT_EQ(responses.size(), 6u);
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(responses[i].find("hello /p" + std::to_string(i)), std::string::npos)
        << i << ": " << responses[i];
  EXPECT_EQ(responses[5].substr(0, 12), "HTTP/1.1 400");
  auto seen = upstream_.seen();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[2].body, "body");
}

}  // namespace
}  // namespace gatedrill::gateway::test
