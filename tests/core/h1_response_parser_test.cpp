#include "core/http/h1_response_parser.hpp"

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/mutate_bytes.hpp"

namespace gatedrill {
namespace {

// Feeds `wire` in pieces of `step` bytes the way the load loop does (unconsumed bytes stay at
// the front of the buffer); returns the bytes left over after the response completed.
std::string feed_in_steps(H1ResponseParser& p, const std::string& wire, size_t step) {
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

TEST(H1ResponseParser, ContentLengthBodyCompletesAndLeavesTheNextResponse) {
  H1ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloHTTP/1.1";
  size_t used = p.feed(wire);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 201);
  EXPECT_FALSE(p.close_after());
  EXPECT_EQ(wire.substr(used), "HTTP/1.1");
}

TEST(H1ResponseParser, ChunkedBodySplitAtEveryByteBoundary) {
  std::string wire = std::string(kChunked) + "NEXT";
  for (size_t step = 1; step <= wire.size(); ++step) {
    H1ResponseParser p;
    p.reset();
    std::string rest = feed_in_steps(p, wire, step);
    ASSERT_TRUE(p.done()) << "step " << step << " error " << p.error();
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(rest, "NEXT") << "step " << step;
  }
}

TEST(H1ResponseParser, ContentLengthSplitAtEveryByteBoundary) {
  std::string wire =
      "HTTP/1.1 503 Busy\r\ncontent-length: 12\r\nConnection: keep-alive, "
      "Close\r\n\r\n0123456789ab";
  for (size_t step = 1; step <= wire.size(); ++step) {
    H1ResponseParser p;
    p.reset();
    std::string rest = feed_in_steps(p, wire, step);
    ASSERT_TRUE(p.done()) << step;
    EXPECT_EQ(p.status(), 503);
    EXPECT_TRUE(p.close_after());
    EXPECT_EQ(rest, "");
  }
}

TEST(H1ResponseParser, NoLengthMeansReadUntilClose) {
  H1ResponseParser p;
  p.reset();
  p.feed("HTTP/1.1 200 OK\r\n\r\nsome body");
  EXPECT_FALSE(p.done());
  EXPECT_TRUE(p.close_after());
  p.on_eof();
  EXPECT_TRUE(p.done());
}

TEST(H1ResponseParser, EofInTheMiddleOfABodyFails) {
  H1ResponseParser p;
  p.reset();
  p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  p.on_eof();
  EXPECT_TRUE(p.failed());
}

TEST(H1ResponseParser, Http10ClosesUnlessKeepAlive) {
  H1ResponseParser a;
  a.reset();
  a.feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(a.close_after());
  H1ResponseParser b;
  b.reset();
  b.feed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(b.done());
  EXPECT_FALSE(b.close_after());
}

TEST(H1ResponseParser, HeaderNamesAndTokensMatchInAnyCaseAndOnlyExactly) {
  H1ResponseParser upper;
  upper.reset();
  upper.feed("HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\ncOnNeCtIoN: Keep-Alive, CLOSE\r\n\r\nok");
  EXPECT_TRUE(upper.done());
  EXPECT_TRUE(upper.close_after());
  H1ResponseParser chunked;
  chunked.reset();
  chunked.feed("HTTP/1.1 200 OK\r\nTRANSFER-encoding: gzip, Chunked\r\n\r\n0\r\n\r\n");
  EXPECT_TRUE(chunked.done());
  // Same length, one byte off (an underscore): not the header, so no length and the body runs
  // until the close. A non-ASCII byte is no name at all.
  H1ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 200 OK\r\nContent_Length: 2\r\n\r\nok";
  EXPECT_EQ(p.feed(wire), wire.size());
  EXPECT_EQ(p.state(), H1ResponseParser::State::kUntilClose);
  for (const char* name : {"Content-Lengt\xe8", "Connectio\xee"}) {
    H1ResponseParser q;
    q.reset();
    q.feed(std::string("HTTP/1.1 200 OK\r\n") + name + ": 2\r\n\r\nok");
    EXPECT_TRUE(q.failed()) << name;
  }
}

TEST(H1ResponseParser, NoBodyForHeadAnd204And304) {
  for (const char* wire : {"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"}) {
    H1ResponseParser p;
    p.reset();
    p.feed(wire);
    EXPECT_TRUE(p.done()) << wire;
  }
  H1ResponseParser head;
  head.reset(true);
  head.feed("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
  EXPECT_TRUE(head.done());
}

TEST(H1ResponseParser, InterimResponsesAreSkipped) {
  H1ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  EXPECT_EQ(p.feed(wire), wire.size());
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 200);
}

TEST(H1ResponseParser, MalformedInputFailsWithAReason) {
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
      // What Beast's parser refused too (the gateway's answer stays 502 for these).
      "HTTP/1.1 200 OK\r\nConnection: keep\"alive\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gz(ip), chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x y\r\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=\"y\r\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
  };
  for (const char* wire : bad) {
    H1ResponseParser p;
    p.reset();
    p.feed(wire);
    EXPECT_TRUE(p.failed()) << wire;
    EXPECT_STRNE(p.error(), "") << wire;
  }
}

TEST(H1ResponseParser, OversizedHeaderSectionFails) {
  H1ResponseParser p;
  p.reset();
  std::string wire = "HTTP/1.1 200 OK\r\nX: " + std::string(H1ResponseParser::kMaxHeadBytes, 'a');
  EXPECT_EQ(p.feed(wire), 0u);
  EXPECT_TRUE(p.failed());
}

TEST(H1ResponseParser, OverlongChunkLineFailsWhetherOrNotItsEndArrived) {
  std::string line =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(1100, '0') + "5";
  H1ResponseParser open_line;
  open_line.reset();
  open_line.feed(line);
  EXPECT_TRUE(open_line.failed());
  H1ResponseParser ended_line;
  ended_line.reset();
  ended_line.feed(line + "\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(ended_line.failed());
}

TEST(H1ResponseParser, ResetAllowsTheNextResponseOnTheSameConnection) {
  H1ResponseParser p;
  p.reset();
  p.feed(kChunked);
  ASSERT_TRUE(p.done());
  p.reset();
  EXPECT_FALSE(p.done());
  p.feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 404);
}

// The gateway's use: the body kept (chunks decoded), the final head's fields as offsets.
H1ResponseParser::Limits keeping(uint64_t max_body = UINT64_MAX, size_t max_head = 8192) {
  H1ResponseParser::Limits limits;
  limits.max_head_bytes = max_head;
  limits.max_body_bytes = max_body;
  limits.keep_fields = true;
  return limits;
}

std::string field_text(std::string_view head, const H1ResponseParser::Field& f) {
  return std::string(head.substr(f.name_offset, f.name_size)) + "=" +
         std::string(head.substr(f.value_offset, f.value_size));
}

TEST(H1ResponseParser, KeepsTheBodyOfEachFraming) {
  struct Case {
    std::string wire;
    std::string body;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello"},
      {kChunked, "hello, world 123"},
      {"HTTP/1.1 200 OK\r\n\r\nuntil the close", "until the close"},
  };
  for (const auto& c : cases) {
    for (size_t step = 1; step <= c.wire.size(); ++step) {
      H1ResponseParser p(keeping());
      p.reset();
      std::string body, buffer;
      size_t next = 0;
      while (!p.done() && !p.failed() && next < c.wire.size()) {
        buffer += c.wire.substr(next, step);
        next += step;
        buffer.erase(0, p.feed(buffer, &body));
      }
      if (!p.done() && !p.failed()) p.on_eof();
      ASSERT_TRUE(p.done()) << c.wire << " step " << step << ": " << p.error();
      EXPECT_EQ(body, c.body) << step;
    }
  }
}

TEST(H1ResponseParser, FieldsAreOffsetsIntoTheFinalHead) {
  H1ResponseParser p(keeping());
  p.reset();
  std::string wire =
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 200 OK\r\nServer: x \r\nX-A:\tb c\r\nContent-Length: 2\r\nEmpty:\r\n\r\nok";
  ASSERT_EQ(p.feed(wire), wire.size());
  ASSERT_TRUE(p.done());
  std::string_view head = std::string_view(wire).substr(p.head_offset(), p.head_size());
  EXPECT_EQ(head.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(p.status_line_size(), 15u);
  ASSERT_EQ(p.fields().size(), 4u);
  EXPECT_EQ(field_text(head, p.fields()[0]), "Server=x");
  EXPECT_EQ(field_text(head, p.fields()[1]), "X-A=b c");
  EXPECT_EQ(field_text(head, p.fields()[2]), "Content-Length=2");
  EXPECT_EQ(field_text(head, p.fields()[3]), "Empty=");
  const auto& a = p.fields()[1];
  EXPECT_EQ(head.substr(a.name_offset, a.line_size), "X-A:\tb c\r\n");
  EXPECT_TRUE(p.has_content_length());
  EXPECT_EQ(p.content_length(), 2u);
  EXPECT_FALSE(p.chunked());
}

TEST(H1ResponseParser, BodyLimitHoldsForEachFraming) {
  for (std::string wire :
       {std::string("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"),
        std::string(kChunked), std::string("HTTP/1.1 200 OK\r\n\r\n0123456789a")}) {
    H1ResponseParser p(keeping(10));
    p.reset();
    std::string body;
    p.feed(wire, &body);
    p.on_eof();
    EXPECT_TRUE(p.failed()) << wire;
    EXPECT_STREQ(p.error(), "body limit exceeded") << wire;
    EXPECT_LE(body.size(), 10u);
  }
  H1ResponseParser exact(keeping(5));
  exact.reset();
  exact.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_TRUE(exact.done());
}

TEST(H1ResponseParser, HeadLimitIsTheWholeHead) {
  std::string head = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  H1ResponseParser fits(keeping(UINT64_MAX, head.size()));
  fits.reset();
  fits.feed(head + "rest");
  EXPECT_TRUE(fits.head_done()) << fits.error();
  H1ResponseParser over(keeping(UINT64_MAX, head.size() - 1));
  over.reset();
  over.feed(head + "rest");
  EXPECT_TRUE(over.failed());
  EXPECT_STREQ(over.error(), "response header section too large");
}

TEST(H1ResponseParser, BytesThatCouldSplitTheClientsResponseAreRefused) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nX: a\nInjected: yes\r\nContent-Length: 0\r\n\r\n",  // bare LF
      "HTTP/1.1 200 OK\r\nX: a\rInjected: yes\r\nContent-Length: 0\r\n\r\n",  // bare CR
      "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n",              // NUL (cut below)
      "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n",                // space in name
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",      // obs-fold
      "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n",                  // empty name
      "HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n",                       // LF in reason
      "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Long-Value-Here: 0123456789\x7f"
      "abcdef\r\nContent-Length: 0\r\n\r\n",
  };
  for (size_t i = 0; i < std::size(bad); ++i) {
    std::string wire = bad[i];
    if (i == 2) wire = std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n", 46);
    H1ResponseParser p(keeping());
    p.reset();
    p.feed(wire);
    EXPECT_TRUE(p.failed()) << i << ": " << wire;
  }
  // A tab, obs-text and a reason-less status line are fine.
  H1ResponseParser ok(keeping());
  ok.reset();
  ok.feed("HTTP/1.1 204\r\nX-Tab-In-A-Long-Value: a\tb\xe8\xe9 0123456789\r\n\r\n");
  EXPECT_TRUE(ok.done()) << ok.error();
}

// What Beast's response parser (the gateway's before) makes of the same bytes: done with a
// status, fields and body, or not.
struct BeastAnswer {
  bool done = false;
  int status = 0;
  std::vector<std::string> fields;  // "name=value"
  std::string body;
};
BeastAnswer beast_parse(const std::string& wire) {
  namespace http = boost::beast::http;
  http::response_parser<http::string_body> p;
  p.eager(true);
  p.header_limit(8192);
  BeastAnswer out;
  boost::beast::error_code ec;
  size_t offset = 0;
  while (!p.is_done()) {
    if (offset == wire.size()) {  // all given: the end of the stream
      p.put_eof(ec);
      break;
    }
    const size_t n = p.put(boost::asio::buffer(wire.data() + offset, wire.size() - offset), ec);
    offset += n;
    if (ec == http::error::need_more) {
      if (n == 0) {  // incomplete for good
        p.put_eof(ec);
        break;
      }
      ec = {};
      continue;
    }
    if (ec) return out;
  }
  if (ec) return out;
  if (!p.is_done()) return out;
  out.done = true;
  out.status = p.get().result_int();
  for (const auto& f : p.get())
    out.fields.push_back(std::string(f.name_string()) + "=" + std::string(f.value()));
  out.body = p.get().body();
  return out;
}

// Mutated responses: whatever this parser accepts, Beast's accepts too, with the same status,
// fields and body (this one is stricter: CL with TE, control bytes, 1xx before the answer...).
TEST(H1ResponseParser, AcceptsNothingBeastRefusesAndAgreesOnWhatBothAccept) {
  const std::string seeds[] = {
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
      "Connection: keep-alive\r\n\r\nok\n",
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n"
      "5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n",
      "HTTP/1.0 404 Not Found\r\nX-Long: 0123456789abcdefghij\r\n\r\nuntil close",
      "HTTP/1.1 204 No Content\r\nETag: \"x\"\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n",
  };
  const char alphabet[] = {':', ' ', '\t', '\r', '\n',   '0',    '9', 'a', 'Z',
                           ',', ';', '-',  '\0', '\x7f', '\xe8', '"', 'F', '1'};
  std::mt19937 rng(12345);
  int agreed = 0, refused_here_only = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string wire = seeds[rng() % std::size(seeds)];
    testing_support::mutate_bytes(wire, rng, std::string_view(alphabet, sizeof alphabet));
    H1ResponseParser::Limits limits;
    limits.max_head_bytes = 8192;
    limits.keep_fields = true;
    H1ResponseParser mine(limits);
    mine.reset();
    std::string body;
    const size_t used = mine.feed(wire, &body);
    if (!mine.done() && !mine.failed()) mine.on_eof();
    BeastAnswer beast = beast_parse(wire.substr(0, mine.done() ? used : wire.size()));
    if (!mine.done()) {
      refused_here_only += beast.done ? 1 : 0;
      continue;
    }
    std::string_view head = std::string_view(wire).substr(mine.head_offset(), mine.head_size());
    if (mine.head_offset() != 0) continue;  // a 1xx came first: Beast stops at it
    ASSERT_TRUE(beast.done) << testing::PrintToString(wire);
    EXPECT_EQ(beast.status, mine.status()) << testing::PrintToString(wire);
    EXPECT_EQ(beast.body, body) << testing::PrintToString(wire);
    std::vector<std::string> fields;
    for (const auto& f : mine.fields()) fields.push_back(field_text(head, f));
    EXPECT_EQ(beast.fields, fields) << testing::PrintToString(wire);
    ++agreed;
  }
  // The mutations must exercise both sides.
  EXPECT_GT(agreed, 400);
  EXPECT_GT(refused_here_only, 0);
}

}  // namespace
}  // namespace gatedrill
