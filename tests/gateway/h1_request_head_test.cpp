#include "gateway/server/h1_request_head.hpp"

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/mutate_bytes.hpp"

namespace gatedrill::gateway {
namespace {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

// What a request says, as text: method, target, version, then each field as name=value.
std::vector<std::string> describe(const Request& request) {
  std::vector<std::string> out{std::string(request.method_string()), std::string(request.target()),
                               std::to_string(request.version())};
  for (const auto& f : request)
    out.push_back(std::string(f.name_string()) + "=" + std::string(f.value()));
  return out;
}

// Beast's parser on the same bytes: the description when it read a complete head with no body.
std::optional<std::vector<std::string>> beast_read(const std::string& head) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  const size_t used = parser.put(boost::asio::buffer(head), ec);
  if (ec || !parser.is_done() || used != head.size()) return std::nullopt;
  return describe(parser.get());
}

std::optional<std::vector<std::string>> plain_read(const std::string& head) {
  Request request;
  if (!read_plain_request_head(head, request)) {
    EXPECT_EQ(request.begin(), request.end()) << "fields left after a refusal";
    return std::nullopt;
  }
  return describe(request);
}

const std::string kToken(800, 'x');

TEST(PlainRequestHead, ReadsTheUsualHeadAsBeastDoes) {
  const std::string head =
      "GET /api/orders/1?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"
      "Authorization: Bearer " +
      kToken +
      "\r\nUser-Agent: gatedrill\r\n"
      "X-Tabs:\t a\tb \t\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n";
  auto mine = plain_read(head);
  ASSERT_TRUE(mine);
  EXPECT_EQ(*mine, *beast_read(head));
  EXPECT_EQ((*mine)[6], "X-Tabs=a\tb");
  EXPECT_EQ((*mine)[8], "X-Empty=");
}

TEST(PlainRequestHead, KnownAndUnknownMethodsAndHttp10) {
  for (const std::string head :
       {"DELETE /a HTTP/1.0\r\n\r\n", "PURGEX /a HTTP/1.1\r\nHost: h\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Obs: caf\xc3\xa9\r\n\r\n"}) {
    auto mine = plain_read(head);
    ASSERT_TRUE(mine) << head;
    EXPECT_EQ(*mine, *beast_read(head)) << head;
  }
}

TEST(PlainRequestHead, LeavesEverythingUnusualToBeast) {
  for (const std::string head : {
           "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n",  // a body
           "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
           "GET /a HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n",     // any case
           "GET /a HTTP/2.0\r\nHost: h\r\n\r\n",                          // version
           "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close,,x\r\n\r\n",  // list
           "GET /a HTTP/1.1\r\nHost: h\r\nConnection: \"close\"\r\n\r\n",
           "\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",            // empty line first
           "GET  /a HTTP/1.1\r\nHost: h\r\n\r\n",               // two spaces
           "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",            // DEL in the target
           "GET /a HTTP/1.1\r\nHost : h\r\n\r\n",               // space before colon
           "GET /a HTTP/1.1\r\nX: a\x01z\r\nHost: h\r\n\r\n",   // control byte
           "GET /a HTTP/1.1\r\nX: a\r\n b\r\nHost: h\r\n\r\n",  // obs-fold
           "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET",             // past the head
           "GET /a HTTP/1.1\r\nHost: h\r\n",                    // no blank line
       }) {
    EXPECT_FALSE(plain_read(head)) << head;
  }
}

// Mutated heads: whatever this reads, Beast's parser reads too, to the same method, target,
// version and fields (this one refuses more: bodies, odd lists, other versions).
TEST(PlainRequestHead, ReadsNothingBeastRefusesAndAgreesOnWhatBothRead) {
  const std::string seeds[] = {
      "GET /api/orders/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer abc.def-ghi\r\n"
      "Accept: */*\r\n\r\n",
      "HEAD /x?y=%20z HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-A: \t b c \r\nX-B:\r\n\r\n",
  };
  const char alphabet[] = {':', ' ',  '\t',   '\r',   '\n', '0', '1', 'a', 'Z', ',', ';',
                           '-', '\0', '\x7f', '\xe8', '"',  '/', '.', 'H', 'T', 'P', '\x01'};
  std::mt19937 rng(2026);
  int agreed = 0, refused_here_only = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string head = seeds[rng() % std::size(seeds)];
    testing_support::mutate_bytes(head, rng, std::string_view(alphabet, sizeof alphabet));
    auto mine = plain_read(head);
    auto beast = beast_read(head);
    if (!mine) {
      refused_here_only += beast ? 1 : 0;
      continue;
    }
    ASSERT_TRUE(beast) << testing::PrintToString(head);
    EXPECT_EQ(*beast, *mine) << testing::PrintToString(head);
    ++agreed;
  }
  // The mutations must exercise both sides.
  EXPECT_GT(agreed, 1000);
  EXPECT_GT(refused_here_only, 0);
}

}  // namespace
}  // namespace gatedrill::gateway
