#include "core/resp/resp.hpp"

#include <charconv>

namespace gatedrill::resp {

const char* type_name(Value::Type type) {
  switch (type) {
    case Value::Type::kSimpleString:
      return "simple string";
    case Value::Type::kError:
      return "error";
    case Value::Type::kInteger:
      return "integer";
    case Value::Type::kBulkString:
      return "bulk string";
    case Value::Type::kNull:
      return "null";
    case Value::Type::kArray:
      return "array";
  }
  return "unknown";
}

namespace {

// Outcome of parsing at one position: done (value + new position), need more bytes, or error.
enum class Step { kDone, kIncomplete, kError };

class Parser {
 public:
  Parser(std::string_view bytes, const Limits& limits) : bytes_(bytes), limits_(limits) {}

  Step value(size_t& pos, Value& out, size_t depth) {
    if (pos >= bytes_.size()) return Step::kIncomplete;
    const char type = bytes_[pos];
    const size_t start = pos;
    std::string_view line;
    Step s = read_line(pos + 1, line);
    if (s != Step::kDone) return s;
    const size_t after_line = pos + 1 + line.size() + 2;
    switch (type) {
      case '+':
      case '-':
        out = type == '+' ? Value::simple(std::string(line)) : Value::error(std::string(line));
        pos = after_line;
        return Step::kDone;
      case ':': {
        int64_t n = 0;
        if (!to_int(line, n)) return fail("resp_protocol", "bad integer", start);
        out = Value::number(n);
        pos = after_line;
        return Step::kDone;
      }
      case '$':
        return bulk(start, line, after_line, pos, out);
      case '*':
        return array(start, line, after_line, pos, out, depth);
      default:
        return fail("resp_protocol", "unknown type byte 0x" + hex(static_cast<unsigned char>(type)),
                    start);
    }
  }

  Error error() const { return error_; }

 private:
  Step bulk(size_t start, std::string_view line, size_t after_line, size_t& pos, Value& out) {
    int64_t len = 0;
    if (!to_int(line, len) || len < -1) return fail("resp_protocol", "bad bulk length", start);
    if (len == -1) {
      out = Value::null();
      pos = after_line;
      return Step::kDone;
    }
    if (len > limits_.max_bulk_bytes) {
      return fail("resp_limit",
                  "bulk string of " + std::to_string(len) + " bytes exceeds the " +
                      std::to_string(limits_.max_bulk_bytes) + "-byte limit",
                  start);
    }
    const size_t n = static_cast<size_t>(len);
    if (bytes_.size() - after_line < n + 2) return Step::kIncomplete;
    if (bytes_[after_line + n] != '\r' || bytes_[after_line + n + 1] != '\n') {
      return fail("resp_protocol", "bulk string not followed by CRLF", after_line + n);
    }
    out = Value::bulk(std::string(bytes_.substr(after_line, n)));
    pos = after_line + n + 2;
    return Step::kDone;
  }

  Step array(size_t start, std::string_view line, size_t after_line, size_t& pos, Value& out,
             size_t depth) {
    int64_t count = 0;
    if (!to_int(line, count) || count < -1) return fail("resp_protocol", "bad array length", start);
    if (count == -1) {
      out = Value::null();
      pos = after_line;
      return Step::kDone;
    }
    if (count > limits_.max_array_elements) {
      return fail("resp_limit",
                  "array of " + std::to_string(count) + " elements exceeds the " +
                      std::to_string(limits_.max_array_elements) + "-element limit",
                  start);
    }
    if (depth + 1 > limits_.max_depth) {
      return fail("resp_limit", "arrays nested deeper than " + std::to_string(limits_.max_depth),
                  start);
    }
    // Every element takes at least 3 bytes ("+\r\n"), so a count the buffer cannot hold yet is
    // incomplete; this also keeps reserve() proportional to bytes actually received.
    size_t p = after_line;
    std::vector<Value> elements;
    elements.reserve(std::min<size_t>(static_cast<size_t>(count), (bytes_.size() - p) / 3));
    for (int64_t i = 0; i < count; ++i) {
      Value element;
      Step s = value(p, element, depth + 1);
      if (s != Step::kDone) return s;
      elements.push_back(std::move(element));
    }
    out = Value::array(std::move(elements));
    pos = p;
    return Step::kDone;
  }

  // The line starting at `from` up to (not including) CRLF.
  Step read_line(size_t from, std::string_view& line) {
    const size_t avail = bytes_.size() > from ? bytes_.size() - from : 0;
    const std::string_view rest = bytes_.substr(std::min(from, bytes_.size()));
    const size_t cr = rest.find('\r');
    const size_t lf = rest.find('\n');
    if (lf != std::string_view::npos && (cr == std::string_view::npos || lf < cr)) {
      return fail("resp_protocol", "bare LF in a line", from + lf);
    }
    if (cr == std::string_view::npos) {
      if (avail > limits_.max_line_bytes) return line_too_long(from);
      return Step::kIncomplete;
    }
    if (cr > limits_.max_line_bytes) return line_too_long(from);
    if (cr + 1 >= rest.size()) return Step::kIncomplete;
    if (rest[cr + 1] != '\n') return fail("resp_protocol", "CR not followed by LF", from + cr);
    line = rest.substr(0, cr);
    return Step::kDone;
  }

  Step line_too_long(size_t from) {
    return fail("resp_limit",
                "line longer than " + std::to_string(limits_.max_line_bytes) + " bytes", from);
  }

  static bool to_int(std::string_view s, int64_t& n) {
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc() && ptr == s.data() + s.size();
  }

  static std::string hex(unsigned char c) {
    const char* digits = "0123456789abcdef";
    return {digits[c >> 4], digits[c & 15]};
  }

  Step fail(const char* code, std::string message, size_t offset) {
    error_ = make_error(code, message + " at byte " + std::to_string(offset));
    return Step::kError;
  }

  std::string_view bytes_;
  const Limits& limits_;
  Error error_;
};

}  // namespace

Result<std::optional<Parsed>> parse(std::string_view bytes, const Limits& limits) {
  Parser parser(bytes, limits);
  size_t pos = 0;
  Value value;
  switch (parser.value(pos, value, 0)) {
    case Step::kDone:
      return std::optional<Parsed>(Parsed{std::move(value), pos});
    case Step::kIncomplete:
      return std::optional<Parsed>();
    case Step::kError:
      break;
  }
  return parser.error();
}

Result<std::optional<Value>> Reader::next() {
  if (failed_) return *failed_;
  auto parsed = parse(std::string_view(buffer_).substr(offset_), limits_);
  if (!parsed) {
    failed_ = parsed.error();
    return *failed_;
  }
  if (!parsed->has_value()) return std::optional<Value>();
  offset_ += (*parsed)->consumed;
  // Compact once the consumed prefix dominates, so a long-lived connection does not grow.
  if (offset_ > 4096 && offset_ * 2 > buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return std::optional<Value>(std::move((*parsed)->value));
}

void append(std::string& out, const Value& value) {
  switch (value.type) {
    case Value::Type::kSimpleString:
    case Value::Type::kError:
      // CR/LF cannot appear in a line value; replace them rather than corrupt the stream.
      out += value.type == Value::Type::kSimpleString ? '+' : '-';
      for (char c : value.str) out += (c == '\r' || c == '\n') ? ' ' : c;
      out += "\r\n";
      return;
    case Value::Type::kInteger:
      out += ':';
      out += std::to_string(value.integer);
      out += "\r\n";
      return;
    case Value::Type::kBulkString:
      out += '$';
      out += std::to_string(value.str.size());
      out += "\r\n";
      out += value.str;
      out += "\r\n";
      return;
    case Value::Type::kNull:
      out += "$-1\r\n";
      return;
    case Value::Type::kArray:
      out += '*';
      out += std::to_string(value.elements.size());
      out += "\r\n";
      for (const auto& e : value.elements) append(out, e);
      return;
  }
}

std::string encode(const Value& value) {
  std::string out;
  append(out, value);
  return out;
}

void append_command(std::string& out, const std::vector<std::string>& args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (const auto& a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
}

std::string encode_command(const std::vector<std::string>& args) {
  std::string out;
  append_command(out, args);
  return out;
}

}  // namespace gatedrill::resp
