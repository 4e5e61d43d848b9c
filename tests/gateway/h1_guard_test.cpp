#include "gateway/server/h1_guard.hpp"

#include <string>

#include <gtest/gtest.h>

namespace gatedrill::gateway {
namespace {

HeadScan scan(std::string_view bytes) {
  return scan_request_head(bytes, 64, 256);
}

TEST(H1Guard, NeedsMoreUntilTheBlankLine) {
  EXPECT_EQ(scan("GET / HTTP/1.1\r\nHost: a\r\n").state, HeadScan::State::kNeedMore);
  auto done = scan("GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT");
  EXPECT_EQ(done.state, HeadScan::State::kComplete);
  EXPECT_EQ(done.head_size, 27u);
}

TEST(H1Guard, RejectsFramingErrorsAsSoonAsSeen) {
  EXPECT_EQ(scan("GET / HTTP/1.1\nHo").state, HeadScan::State::kRejected);
  EXPECT_EQ(scan("GET / HTTP/1.1\rHo").state, HeadScan::State::kRejected);
  EXPECT_EQ(scan(std::string_view("GET /\0", 6)).state, HeadScan::State::kRejected);
  // A CR at the very end may still be followed by LF.
  EXPECT_EQ(scan("GET / HTTP/1.1\r").state, HeadScan::State::kNeedMore);
}

// The scan skips eight bytes at a time while none is at most CR: a NUL, bare CR or bare LF is
// found at every offset (inside a word, at its edges, in the tail shorter than a word), and
// the end of the head too.
TEST(H1Guard, FindsEveryFramingByteWhereverItSits) {
  const std::string clean =
      "GET /" + std::string(40, 'p') + " HTTP/1.1\r\nX-T: " + std::string(37, 't') + "\r\n";
  for (size_t at = 1; at < clean.size(); ++at) {
    if (clean[at] == '\r' || clean[at] == '\n' || clean[at - 1] == '\r') continue;
    for (char bad : {'\0', '\r', '\n'}) {
      std::string head = clean;
      head[at] = bad;
      auto got = scan_request_head(head, 256, 256);
      ASSERT_EQ(got.state, HeadScan::State::kRejected) << "byte " << int(bad) << " at " << at;
      EXPECT_EQ(got.rejection->status, 400);
    }
  }
  for (size_t tail = 0; tail < 9; ++tail) {
    std::string head = clean + "\r\n" + std::string(tail, 'n');
    auto got = scan_request_head(head, 256, 256);
    ASSERT_EQ(got.state, HeadScan::State::kComplete) << tail;
    EXPECT_EQ(got.head_size, clean.size() + 2);
  }
}

TEST(H1Guard, LongRequestLineIs414AndLongHeadIs431) {
  auto uri = scan("GET /" + std::string(200, 'a'));
  ASSERT_EQ(uri.state, HeadScan::State::kRejected);
  EXPECT_EQ(uri.rejection->status, 414);
  auto head = scan("GET / HTTP/1.1\r\nX: " + std::string(400, 'b'));
  ASSERT_EQ(head.state, HeadScan::State::kRejected);
  EXPECT_EQ(head.rejection->status, 431);
}

TEST(H1Guard, FieldRules) {
  EXPECT_FALSE(check_request_head("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_FALSE(
      check_request_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"));
  EXPECT_FALSE(check_request_head("GET / HTTP/1.0\r\n\r\n"));  // HTTP/1.0 needs no Host
  EXPECT_FALSE(check_request_head("GET HTTP://A/x HTTP/1.1\r\nHost: a\r\n\r\n"));
  for (std::string bad :
       {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET /\r\n\r\n"}) {
    auto verdict = check_request_head(bad);
    ASSERT_TRUE(verdict) << bad;
    EXPECT_EQ(verdict->status, 400);
    EXPECT_FALSE(verdict->message.empty());
  }
}

}  // namespace
}  // namespace gatedrill::gateway
