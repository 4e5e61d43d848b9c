#pragma once
// RESP2 (the Redis protocol): values, an incremental reader and a writer. The reader is a pure
// function over bytes (no I/O), so it can be fuzzed; hostile input gets an error, never a crash
// or an unbounded allocation: nesting depth, bulk sizes, element counts and line lengths are
// bounded.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::resp {

struct Value {
  enum class Type { kSimpleString, kError, kInteger, kBulkString, kNull, kArray };
  Type type = Type::kNull;
  std::string str;              // kSimpleString, kError, kBulkString
  int64_t integer = 0;          // kInteger
  std::vector<Value> elements;  // kArray

  static Value simple(std::string s) { return Value{Type::kSimpleString, std::move(s), 0, {}}; }
  static Value error(std::string s) { return Value{Type::kError, std::move(s), 0, {}}; }
  static Value bulk(std::string s) { return Value{Type::kBulkString, std::move(s), 0, {}}; }
  static Value number(int64_t n) { return Value{Type::kInteger, {}, n, {}}; }
  static Value null() { return Value{}; }
  static Value array(std::vector<Value> e) { return Value{Type::kArray, {}, 0, std::move(e)}; }

  bool is_error() const { return type == Type::kError; }
  bool operator==(const Value&) const = default;
};

const char* type_name(Value::Type type);

struct Limits {
  size_t max_depth = 16;                 // arrays inside arrays
  int64_t max_bulk_bytes = 64 << 20;     // one bulk string
  int64_t max_array_elements = 1 << 20;  // one array
  size_t max_line_bytes = 64 << 10;      // a simple string, error or integer line
};

// One value parsed from the front of `bytes`, and how many bytes it used.
struct Parsed {
  Value value;
  size_t consumed = 0;
};

// Parses one value at the front of `bytes`. nullopt: the bytes are a valid but incomplete
// prefix (feed more). Errors: "resp_protocol" (bad type byte, bad length, missing CRLF, bad
// integer) and "resp_limit" (a bound of `limits` exceeded), each naming the byte offset.
Result<std::optional<Parsed>> parse(std::string_view bytes, const Limits& limits = {});

// Buffers bytes as they arrive and hands out complete values. After an error the stream is
// unusable (RESP has no resynchronisation) and every later next() returns the same error.
class Reader {
 public:
  explicit Reader(Limits limits = {}) : limits_(limits) {}

  void feed(std::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  // The next complete value, nullopt when more bytes are needed.
  Result<std::optional<Value>> next();
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  Limits limits_;
  std::string buffer_;
  size_t offset_ = 0;
  std::optional<Error> failed_;
};

// The wire form of a value.
void append(std::string& out, const Value& value);
std::string encode(const Value& value);
// A command as clients send it: an array of bulk strings.
void append_command(std::string& out, const std::vector<std::string>& args);
std::string encode_command(const std::vector<std::string>& args);

}  // namespace gatedrill::resp
