#include "loadgen/response_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gatedrill::loadgen {
namespace {

// Feeds `wire` in pieces of `step` bytes the way the load loop does (unconsumed bytes stay at
// the front of the buffer); returns the bytes left over after the response completed.
std::string feed_in_steps(ResponseParser& p, const std::string& wire, size_t step) {
  std::string buffer;
  size_t next = 0;
  while (!p.done() && !p.failed() && next < wire.size()) {
    buffer += wire.substr(next, step);
    next += step;
    size_t used = p.feed(buffer);
    buffer.erase(0, used);
  }
  return buffer + (next < wire.size() ? wire.substr(next) : "");
}

const char kChunked[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "B\r\n, world 123\r\n"
    "0\r\nX-Trailer: yes\r\n\r\n";

TEST(ResponseParser, ContentLengthBodyCompletesAndLeavesTheNextResponse) {
  ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloHTTP/1.1";
  size_t used = p.feed(wire);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 201);
  EXPECT_FALSE(p.close_after());
  EXPECT_EQ(wire.substr(used), "HTTP/1.1");
}

TEST(ResponseParser, ChunkedBodySplitAtEveryByteBoundary) {
  std::string wire = std::string(kChunked) + "NEXT";
  for (size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    p.reset();
    std::string rest = feed_in_steps(p, wire, step);
    ASSERT_TRUE(p.done()) << "step " << step << " error " << p.error();
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(rest, "NEXT") << "step " << step;
  }
}

TEST(ResponseParser, ContentLengthSplitAtEveryByteBoundary) {
  std::string wire =
      "HTTP/1.1 503 Busy\r\ncontent-length: 12\r\nConnection: keep-alive, "
      "Close\r\n\r\n0123456789ab";
  for (size_t step = 1; step <= wire.size(); ++step) {
    ResponseParser p;
    p.reset();
    std::string rest = feed_in_steps(p, wire, step);
    ASSERT_TRUE(p.done()) << step;
    EXPECT_EQ(p.status(), 503);
    EXPECT_TRUE(p.close_after());
    EXPECT_EQ(rest, "");
  }
}

TEST(ResponseParser, NoLengthMeansReadUntilClose) {
  ResponseParser p;
  p.reset();
  p.feed("HTTP/1.1 200 OK\r\n\r\nsome body");
  EXPECT_FALSE(p.done());
  EXPECT_TRUE(p.close_after());
  p.on_eof();
  EXPECT_TRUE(p.done());
}

TEST(ResponseParser, EofInTheMiddleOfABodyFails) {
  ResponseParser p;
  p.reset();
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  p.on_eof();
  EXPECT_TRUE(p.failed());
}

TEST(ResponseParser, Http10ClosesUnlessKeepAlive) {
  ResponseParser a;
  a.reset();
  a.feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(a.close_after());
  ResponseParser b;
  b.reset();
  b.feed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(b.done());
  EXPECT_FALSE(b.close_after());
}

TEST(ResponseParser, HeaderNamesAndTokensMatchInAnyCaseAndOnlyExactly) {
  ResponseParser upper;
  upper.reset();
  upper.feed("HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\ncOnNeCtIoN: Keep-Alive, CLOSE\r\n\r\nok");
  EXPECT_TRUE(upper.done());
  EXPECT_TRUE(upper.close_after());
  ResponseParser chunked;
  chunked.reset();
  chunked.feed("HTTP/1.1 200 OK\r\nTRANSFER-encoding: gzip, Chunked\r\n\r\n0\r\n\r\n");
  EXPECT_TRUE(chunked.done());
  // Same lengths, one byte off (an underscore, a non-ASCII byte): not the header, so no length
  // and the body runs until the close.
  for (const char* name : {"Content_Length", "Content-Lengt\xe8", "Connectio\xee"}) {
    ResponseParser p;
    p.reset();
    std::string wire = std::string("HTTP/1.1 200 OK\r\n") + name + ": 2\r\n\r\nok";
    EXPECT_EQ(p.feed(wire), wire.size()) << name;
    EXPECT_EQ(p.state(), ResponseParser::State::kUntilClose) << name;
  }
}

TEST(ResponseParser, NoBodyForHeadAnd204And304) {
  for (const char* wire : {"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"}) {
    ResponseParser p;
    p.reset();
    p.feed(wire);
    EXPECT_TRUE(p.done()) << wire;
  }
  ResponseParser head;
  head.reset(true);
  head.feed("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  EXPECT_TRUE(head.done());
}

TEST(ResponseParser, InterimResponsesAreSkipped) {
  ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  EXPECT_EQ(p.feed(wire), wire.size());
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 200);
}

TEST(ResponseParser, MalformedInputFailsWithAReason) {
  const char* bad[] = {
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
      "HTTP/1.1 101 Switching\r\n\r\n",
  };
  for (const char* wire : bad) {
    ResponseParser p;
    p.reset();
    p.feed(wire);
    EXPECT_TRUE(p.failed()) << wire;
    EXPECT_STRNE(p.error(), "") << wire;
  }
}

TEST(ResponseParser, OversizedHeaderSectionFails) {
  ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 200 OK\r\nX: " + std::string(ResponseParser::kMaxHeadBytes, 'a');
  EXPECT_EQ(p.feed(wire), 0u);
  EXPECT_TRUE(p.failed());
}

TEST(ResponseParser, OverlongChunkLineFailsWhetherOrNotItsEndArrived) {
  std::string line =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(1100, '0') + "5";
  ResponseParser open_line;
  open_line.reset();
  open_line.feed(line);
  EXPECT_TRUE(open_line.failed());
  ResponseParser ended_line;
  ended_line.reset();
  ended_line.feed(line + "\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(ended_line.failed());
}

TEST(ResponseParser, ResetAllowsTheNextResponseOnTheSameConnection) {
  ResponseParser p;
  p.reset();
  p.feed(kChunked);
  ASSERT_TRUE(p.done());
  p.reset();
  EXPECT_FALSE(p.done());
  p.feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 404);
}

}  // namespace
}  // namespace gatedrill::loadgen
