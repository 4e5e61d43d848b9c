// parse_jose_json: the JSON of a JWS header or JWT payload, duplicate names refused in the same
// pass at any depth, after unescaping.
#include <gtest/gtest.h>

#include <string>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/jose_json.hpp"

namespace gatedrill {
namespace {

std::string code_of(std::string_view text) {
  auto value = parse_jose_json(text, {});
  return value.ok() ? "ok" : value.error().code;
}

TEST(JwtJoseJson, DuplicateNamesAtAnyDepth) {
  EXPECT_EQ(code_of(R"({"a":1,"a":2})"), "duplicate_name");
  EXPECT_EQ(code_of(R"({"x":{"a":1,"a":2}})"), "duplicate_name");
  EXPECT_EQ(code_of(R"({"x":{"y":{"z":[{"q":{"a":1,"b":2,"a":3}}]}}})"), "duplicate_name");
  EXPECT_EQ(code_of(R"([{"a":1},{"b":1,"b":2}])"), "duplicate_name");  // inside a top array
  // 60 levels deep (the limit is 64).
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += R"({"k":)";
  std::string tail = R"({"d":1,"d":2})";
  for (int i = 0; i < 60; ++i) tail += "}";
  EXPECT_EQ(code_of(deep + tail), "duplicate_name");
  EXPECT_EQ(code_of(deep + R"({"d":1,"e":2})" + tail.substr(13)), "ok");
}

TEST(JwtJoseJson, NamesThatBecomeEqualWhenUnescaped) {
  EXPECT_EQ(code_of(R"({"a":1,"\u0061":2})"), "duplicate_name");
  EXPECT_EQ(code_of(R"({"\u0061":1,"a":2})"), "duplicate_name");
  EXPECT_EQ(code_of(R"({"/":1,"\/":2})"), "duplicate_name");
  EXPECT_EQ(code_of("{\"\xc3\xa9\":1,\"\\u00e9\":2}"), "duplicate_name");  // é raw and escaped
  EXPECT_EQ(code_of("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}"),
            "duplicate_name");  // a surrogate pair and the same code point in UTF-8
  EXPECT_EQ(code_of(R"({"sub":1,"s\u0075b":2})"), "duplicate_name");
  // Escapes that do not collide.
  EXPECT_EQ(code_of(R"({"a":1,"\u0062":2,"\u0041":3})"), "ok");
}

TEST(JwtJoseJson, LongEscapedNamesArriveInPartsAndStillCompare) {
  // A name with escapes longer than the parser's unescape buffer reaches the handler in parts.
  std::string name(6000, 'n');
  std::string escaped = "\\u006e" + name.substr(1);  // the same name, first letter escaped
  EXPECT_EQ(code_of("{\"" + name + "\":1,\"" + escaped + "\":2}"), "duplicate_name");
  std::string other = escaped;
  other.back() = 'm';
  EXPECT_EQ(code_of("{\"" + name + "\":1,\"" + other + "\":2}"), "ok");
  auto value = parse_jose_json("{\"" + escaped + "\":1}", {});
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value->as_object().contains(name));
}

TEST(JwtJoseJson, ManyNamesInOneObject) {
  // More names than the pairwise check takes: sorted instead.
  std::string many = "{";
  for (int i = 0; i < 2000; ++i)
    many += "\"n" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_EQ(code_of(many + "\"last\":0}"), "ok");
  EXPECT_EQ(code_of(many + "\"n1999\":0}"), "duplicate_name");
  EXPECT_EQ(code_of(many + "\"n0\":0}"), "duplicate_name");
  EXPECT_EQ(code_of("{\"n0\":{\"a\":1,\"a\":2}," + many.substr(1) + "\"last\":0}"),
            "duplicate_name");
}

TEST(JwtJoseJson, NamesAreComparedPerObject) {
  EXPECT_EQ(code_of(R"({"a":{"b":1},"b":{"a":2}})"), "ok");
  EXPECT_EQ(code_of(R"({"a":{"a":{"a":1}}})"), "ok");
  EXPECT_EQ(code_of(R"([{"a":1},{"a":1}])"), "ok");
  EXPECT_EQ(code_of(R"({"a":"\",\"a\":","b":["a","a"]})"), "ok");
  EXPECT_EQ(code_of(R"({"a":1,"ab":2,"":3,"b":4})"), "ok");
  EXPECT_EQ(code_of(R"({"":1,"":2})"), "duplicate_name");
  // After a nested object closes, its names are gone and the outer object's remain.
  EXPECT_EQ(code_of(R"({"a":{"x":1,"y":2},"b":1,"a":2})"), "duplicate_name");
  EXPECT_EQ(code_of(R"({"x":{"a":1},"y":{"a":1},"a":1})"), "ok");
  EXPECT_EQ(code_of(R"({"x":{"a":1},"y":{"b":1},"x":1})"), "duplicate_name");
}

TEST(JwtJoseJson, InvalidJsonAndLimits) {
  for (const char* text : {"", "{", R"({"a":1} x)", R"({"a":1}{})", R"({'a':1})", R"({"a":01})",
                           "{\"a\":\"\xff\"}", R"({"a":1,})", "[1,2"}) {
    EXPECT_EQ(code_of(text), "bad_json") << text;
  }
  EXPECT_EQ(code_of(std::string(65, '[') + std::string(65, ']')), "bad_json");
  EXPECT_EQ(code_of(std::string(64, '[') + std::string(64, ']')), "ok");
}

TEST(JwtJoseJson, BuildsTheSameValueAsBoostJsonAndIsReusable) {
  const char* texts[] = {
      R"({"iss":"https://idp","aud":["a","b"],"exp":1767225600,"f":1.5,"n":null,"t":true,
          "u":18446744073709551615,"neg":-3,"o":{"x":[{"y":"\u00e9\n"}]}})",
      R"([1,"two",{"three":3}])", R"("just a string")", "42"};
  for (const char* text : texts) {
    boost::json::monotonic_resource arena;
    auto value = parse_jose_json(text, &arena);
    ASSERT_TRUE(value.ok()) << text;
    EXPECT_EQ(boost::json::serialize(*value), boost::json::serialize(boost::json::parse(text)));
    EXPECT_EQ(value->storage().get(), &arena);
    // A failure in between leaves nothing behind for the next parse.
    EXPECT_EQ(code_of(R"({"z":{"a":[1,{"b":2,"b":3}]}})"), "duplicate_name");
    EXPECT_EQ(code_of(R"({"z":{"a":[1,)"), "bad_json");
  }
}

// parse_jose_members against the tree parse_jose_json builds: the same refusals (plus
// "not_object" for valid JSON that is no object), and for each named top-level member the value
// the tree holds.
constexpr std::string_view kNames[] = {"iss", "aud", "exp", "n", "t", "u", "f", "o", "long-name-x"};

void expect_member_as_tree(const JoseValue& ours, const boost::json::value& tree,
                           const std::string& where) {
  EXPECT_EQ(ours.is_null(), tree.is_null()) << where;
  EXPECT_EQ(ours.is_bool(), tree.is_bool()) << where;
  EXPECT_EQ(ours.is_int64(), tree.is_int64()) << where;
  EXPECT_EQ(ours.is_uint64(), tree.is_uint64()) << where;
  EXPECT_EQ(ours.is_double(), tree.is_double()) << where;
  EXPECT_EQ(ours.is_string(), tree.is_string()) << where;
  EXPECT_EQ(ours.is_array(), tree.is_array()) << where;
  EXPECT_EQ(ours.is_object(), tree.is_object()) << where;
  if (tree.is_bool()) {
    EXPECT_EQ(ours.as_bool(), tree.as_bool()) << where;
  }
  if (tree.is_int64()) {
    EXPECT_EQ(ours.as_int64(), tree.as_int64()) << where;
  }
  if (tree.is_uint64()) {
    EXPECT_EQ(ours.as_uint64(), tree.as_uint64()) << where;
  }
  if (tree.is_double()) {
    EXPECT_EQ(ours.as_double(), tree.as_double()) << where;
  }
  if (tree.is_string()) {
    EXPECT_EQ(ours.as_string(), std::string_view(tree.as_string())) << where;
  }
}

void expect_members_as_tree(std::string_view text, JoseBuffers& buffers) {
  const std::string where(text.substr(0, 80));
  static JoseValue found[std::size(kNames)];  // reused, as a JwtView's: nothing stale may show
  auto ours = parse_jose_members(text, kNames, found, buffers);
  auto tree = parse_jose_json(text, {});
  if (!tree.ok()) {
    ASSERT_FALSE(ours.ok()) << where;
    EXPECT_EQ(ours.error().code, tree.error().code) << where;
    EXPECT_EQ(ours.error().message, tree.error().message) << where;
    return;
  }
  if (!tree->is_object()) {
    ASSERT_FALSE(ours.ok()) << where;
    EXPECT_EQ(ours.error().code, "not_object") << where;
    return;
  }
  ASSERT_TRUE(ours.ok()) << where << ": " << ours.error().message;
  const auto& object = tree->as_object();
  for (size_t i = 0; i < std::size(kNames); ++i) {
    const auto* member = object.if_contains(kNames[i]);
    const std::string name = where + " / " + std::string(kNames[i]);
    ASSERT_EQ((*ours & (1u << i)) != 0, member != nullptr) << name;
    if (member == nullptr) continue;
    expect_member_as_tree(found[i], *member, name);
    if (member->is_array()) {
      const auto& members = member->as_array();
      ASSERT_EQ(found[i].as_array().size(), members.size()) << name;
      for (size_t j = 0; j < members.size(); ++j)
        expect_member_as_tree(found[i].as_array()[j], members[j],
                              name + "[" + std::to_string(j) + "]");
    }
  }
}

TEST(JwtJoseMembers, KeepsTheNamedMembersAsTheTreeHoldsThem) {
  const std::string long_escaped(5000, 'x');
  const std::string texts[] = {
      R"({"iss":"https://idp","aud":["a","b"],"exp":1767225600,"f":1.5,"n":null,"t":true,
          "u":18446744073709551615,"neg":-3,"o":{"iss":"inner","x":[{"y":"\u00e9\n"}]}})",
      R"({"aud":"one","exp":1.0e9,"t":false,"o":[],"u":-9223372036854775808})",
      R"({"aud":["a",1,null,["b"],{"c":"d"},"e\"q",true],"exp":"soon"})",
      R"({"\u0069ss":"escaped name","\u0061ud":[],"exp":[1]})",
      R"({"iss":")" + long_escaped + R"(\n","aud":[")" + long_escaped + R"(\t","x"]})",
      R"({"long-name-x":"kept","long-name-y":"not","o":{"aud":"nested, not kept"}})",
      R"({"x":{"iss":1,"aud":[2]},"y":[{"exp":3}],"iss":4})",
      R"({})",
      R"([{"iss":"in an array"}])",
      R"("iss")",
      "42",
      "null",
      R"({"iss":1,"iss":2})",
      R"({"o":{"a":1,"\u0061":2}})",
      R"({"iss":"a","iss":"a"})",
      R"({"iss":"unterminated)",
      R"({"iss":1} x)",
      "{\"iss\":\"\xff\"}",
      ""};
  JoseBuffers buffers;  // reused throughout, as the gateway does
  for (const auto& text : texts) expect_members_as_tree(text, buffers);
  // Refusals leave nothing behind: the same text parses alike after any of them.
  for (const auto& text : texts) {
    expect_members_as_tree(texts[0], buffers);
    expect_members_as_tree(text, buffers);
  }
}

TEST(JwtJoseMembers, NamesAndStringsArrivingInPartsAndDepthLimits) {
  JoseBuffers buffers;
  // An escaped name longer than the parser's buffer, equal to another once unescaped.
  std::string name(6000, 'n');
  std::string escaped = "\\u006e" + name.substr(1);
  expect_members_as_tree("{\"" + name + "\":1,\"" + escaped + "\":2}", buffers);
  expect_members_as_tree("{\"" + name + "\":1,\"iss\":\"" + escaped + "\"}", buffers);
  expect_members_as_tree(std::string(65, '[') + std::string(65, ']'), buffers);
  std::string deep = R"({"iss":)";
  for (int i = 0; i < 62; ++i) deep += "[";
  for (int i = 0; i < 62; ++i) deep += "]";
  expect_members_as_tree(deep + "}", buffers);
  expect_members_as_tree(R"({"aud":)" + deep + "}}", buffers);
}

}  // namespace
}  // namespace gatedrill
