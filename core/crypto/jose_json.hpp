#pragma once
// JSON as a JWS header or JWT payload must be read (RFC 7515 section 5.2): strict, at most 64
// levels deep, and refused when any object at any depth repeats a member name after unescaping
// ("a" and "\u0061" are the same name). Boost.JSON alone keeps the last duplicate, which lets a
// token show one value to us and another to a downstream parser.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "core/util/result.hpp"

namespace gatedrill {

// One pass: the names are compared as the parser reports them, no second scan of the text. The
// parser and its stacks are per thread and reused, so after warm-up only `storage` allocates.
// Errors: "bad_json" (invalid JSON, invalid UTF-8, deeper than 64), "duplicate_name".
Result<boost::json::value> parse_jose_json(std::string_view text,
                                           const boost::json::storage_ptr& storage);

// A member's value as a JOSE check reads it, without a JSON tree: its kind, a string's unescaped
// text, a number as the parser reported it (int64, else uint64, else double, as Boost.JSON
// stores it), an array's members (each one level deep: a nested array or object is only its
// kind). The accessors are named as boost::json::value's, so one template reads either.
class JoseValue {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt64, kUint64, kDouble, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int64() const { return kind_ == Kind::kInt64; }
  bool is_uint64() const { return kind_ == Kind::kUint64; }
  bool is_double() const { return kind_ == Kind::kDouble; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool as_bool() const { return boolean_; }
  int64_t as_int64() const { return int64_; }
  uint64_t as_uint64() const { return uint64_; }
  double as_double() const { return double_; }
  std::string_view as_string() const { return string_; }
  std::span<const JoseValue> as_array() const { return {members_, members_size_}; }

 private:
  friend class JoseMembersHandler;

  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  int64_t int64_ = 0;
  uint64_t uint64_ = 0;
  double double_ = 0;
  std::string_view string_;
  const JoseValue* members_ = nullptr;
  size_t members_size_ = 0;
  size_t first_member_ = 0;  // into the buffers' members while parsing
};

// Where parse_jose_members keeps what the values point to; reused between parses, so after
// warm-up a parse allocates nothing. Values stay valid until the next parse with these buffers.
struct JoseBuffers {
  std::string strings;             // string values, unescaped, back to back
  std::vector<JoseValue> members;  // array members
};

// The top-level members named in `names` (at most 32), read in parse_jose_json's single pass
// with its refusals but no tree built: bit i of the result is set when the object has names[i],
// and found[i] then holds its value (else found[i] is left as it was). Only the named members'
// strings are copied (into `buffers`). Errors: "bad_json" and "duplicate_name" as parse_jose_json
// (the same messages); "not_object" for valid JSON that is not an object.
Result<uint32_t> parse_jose_members(std::string_view text, std::span<const std::string_view> names,
                                    std::span<JoseValue> found, JoseBuffers& buffers);

}  // namespace gatedrill
