// RESP2 reader and writer: every value type, input split at every byte boundary, malformed
// input and limits.
#include "core/resp/resp.hpp"

#include <gtest/gtest.h>

namespace gatedrill::resp {
namespace {

Value parse_whole(std::string_view bytes) {
  auto r = parse(bytes);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "incomplete: " << bytes;
    return Value::null();
  }
  EXPECT_EQ((*r)->consumed, bytes.size());
  return (*r)->value;
}

Error parse_error(std::string_view bytes, const Limits& limits = {}) {
  auto r = parse(bytes, limits);
  if (r.ok()) {
    ADD_FAILURE() << "parsed without error: " << bytes;
    return {};
  }
  return r.error();
}

TEST(RespParse, ReadsEveryType) {
  EXPECT_EQ(parse_whole("+OK\r\n"), Value::simple("OK"));
  EXPECT_EQ(parse_whole("-ERR wrong type\r\n"), Value::error("ERR wrong type"));
  EXPECT_EQ(parse_whole(":-42\r\n"), Value::number(-42));
  EXPECT_EQ(parse_whole("$5\r\nhe\r\no\r\n"), Value::bulk("he\r\no"));
  EXPECT_EQ(parse_whole("$0\r\n\r\n"), Value::bulk(""));
  EXPECT_EQ(parse_whole("$-1\r\n"), Value::null());
  EXPECT_EQ(parse_whole("*-1\r\n"), Value::null());
  EXPECT_EQ(parse_whole("*0\r\n"), Value::array({}));
  EXPECT_EQ(parse_whole("*3\r\n:1\r\n*1\r\n+x\r\n$-1\r\n"),
            Value::array({Value::number(1), Value::array({Value::simple("x")}), Value::null()}));
}

TEST(RespParse, ReportsIncompleteForEveryProperPrefix) {
  const std::string full = "*2\r\n$3\r\nSET\r\n*2\r\n:7\r\n-E\r\n";
  for (size_t i = 0; i < full.size(); ++i) {
    auto r = parse(std::string_view(full).substr(0, i));
    ASSERT_TRUE(r.ok()) << "prefix " << i << ": " << r.error().message;
    EXPECT_FALSE(r->has_value()) << "prefix " << i;
  }
  EXPECT_EQ(parse_whole(full).elements.size(), 2u);
}

TEST(RespParse, ConsumesOnlyTheFirstValue) {
  auto r = parse("+A\r\n+B\r\n");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->value, Value::simple("A"));
  EXPECT_EQ((*r)->consumed, 4u);
}

TEST(RespParse, RejectsMalformedInputWithSpecificErrors) {
  EXPECT_EQ(parse_error("?x\r\n").code, "resp_protocol");
  EXPECT_NE(parse_error("?x\r\n").message.find("unknown type byte 0x3f"), std::string::npos);
  EXPECT_NE(parse_error(":12a\r\n").message.find("bad integer"), std::string::npos);
  EXPECT_NE(parse_error(":\r\n").message.find("bad integer"), std::string::npos);
  EXPECT_NE(parse_error("$-2\r\n").message.find("bad bulk length"), std::string::npos);
  EXPECT_NE(parse_error("$3\r\nabcXY").message.find("not followed by CRLF"), std::string::npos);
  EXPECT_NE(parse_error("*x\r\n").message.find("bad array length"), std::string::npos);
  EXPECT_NE(parse_error("+OK\rX").message.find("CR not followed by LF"), std::string::npos);
  EXPECT_NE(parse_error("+OK\n").message.find("bare LF"), std::string::npos);
  EXPECT_NE(parse_error("*1\r\n!\r\n").message.find("at byte 4"), std::string::npos);
  EXPECT_EQ(parse_error(":99999999999999999999\r\n").code, "resp_protocol");
}

TEST(RespParse, EnforcesLimitsBeforeAllocating) {
  Limits limits;
  limits.max_bulk_bytes = 8;
  limits.max_array_elements = 3;
  limits.max_depth = 2;
  limits.max_line_bytes = 10;
  EXPECT_EQ(parse_error("$9\r\n", limits).code, "resp_limit");
  EXPECT_TRUE(parse("$8\r\n", limits).ok());
  EXPECT_EQ(parse_error("*4\r\n", limits).code, "resp_limit");
  EXPECT_EQ(parse_error("*1\r\n*1\r\n*1\r\n:1\r\n", limits).code, "resp_limit");
  EXPECT_TRUE(parse("*1\r\n*1\r\n:1\r\n", limits).ok());
  EXPECT_EQ(parse_error("+0123456789A", limits).code, "resp_limit");
  EXPECT_EQ(parse_error("+0123456789A\r\n", limits).code, "resp_limit");
  // Huge declared lengths are refused by the default limits, not allocated.
  EXPECT_EQ(parse_error("$9223372036854775807\r\n").code, "resp_limit");
  EXPECT_EQ(parse_error("*9223372036854775807\r\n").code, "resp_limit");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "*1\r\n";
  EXPECT_EQ(parse_error(deep).code, "resp_limit");
}

TEST(RespWriter, RoundTripsThroughTheParser) {
  const Value v = Value::array({Value::simple("OK"), Value::error("ERR x"), Value::number(-7),
                                Value::bulk(std::string("a\0\r\nb", 5)), Value::null(),
                                Value::array({Value::bulk("")})});
  EXPECT_EQ(parse_whole(encode(v)), v);
  EXPECT_EQ(encode(Value::simple("a\r\nb")), "+a  b\r\n");
}

TEST(RespWriter, EncodesCommandsAsBulkArrays) {
  EXPECT_EQ(encode_command({"SET", "k", "v1"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n");
}

TEST(RespReader, YieldsTheSameValuesWhenFedByteByByte) {
  std::string stream;
  for (int i = 0; i < 20; ++i) {
    append(stream, Value::array({Value::bulk("key" + std::to_string(i)), Value::number(i)}));
  }
  Reader reader;
  std::vector<Value> got;
  for (char c : stream) {
    reader.feed(std::string_view(&c, 1));
    for (;;) {
      auto next = reader.next();
      ASSERT_TRUE(next.ok()) << next.error().message;
      if (!next->has_value()) break;
      got.push_back(std::move(**next));
    }
  }
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(got[13].elements[0], Value::bulk("key13"));
  EXPECT_EQ(got[13].elements[1], Value::number(13));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(RespReader, StaysFailedAfterAProtocolError) {
  Reader reader;
  reader.feed("+OK\r\n!bad\r\n+OK\r\n");
  auto first = reader.next();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_FALSE(reader.next().ok());
  reader.feed("+more\r\n");
  auto again = reader.next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "resp_protocol");
}

}  // namespace
}  // namespace gatedrill::resp
