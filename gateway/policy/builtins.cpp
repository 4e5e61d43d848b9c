#include "gateway/policy/builtins.hpp"

#include <arpa/inet.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <regex>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "core/crypto/base64url.hpp"
#include "core/crypto/jwt.hpp"
#include "core/crypto/keys.hpp"
#include "core/time/time_source.hpp"
#include "core/util/json.hpp"

namespace gatedrill::policy {
namespace {

using Args = std::vector<Value>;
using Out = std::optional<Value>;

Out fail(BuiltinContext& ctx, std::string msg) {
  ctx.error = std::move(msg);
  return std::nullopt;
}

bool want(BuiltinContext& ctx, const Value& v, Value::Kind k, const char* fn, int operand) {
  if (v.kind() == k) return true;
  static const char* const kNames[] = {"null",  "boolean", "number", "string",
                                       "array", "object",  "set"};
  ctx.error = std::string(fn) + ": operand " + std::to_string(operand) + " must be " +
              kNames[static_cast<int>(k)] + " but got " + std::string(v.type_name());
  return false;
}
#define WANT(i, K, FN) \
  if (!want(ctx, a[i], Value::Kind::K, FN, (i) + 1)) return std::nullopt

// --- comparison -------------------------------------------------------------------------
Out b_equal(const Args& a, BuiltinContext&) {
  return Value::boolean(a[0] == a[1]);
}
Out b_neq(const Args& a, BuiltinContext&) {
  return Value::boolean(a[0] != a[1]);
}
Out b_lt(const Args& a, BuiltinContext&) {
  return Value::boolean(a[0] < a[1]);
}
Out b_lte(const Args& a, BuiltinContext&) {
  return Value::boolean(!(a[1] < a[0]));
}
Out b_gt(const Args& a, BuiltinContext&) {
  return Value::boolean(a[1] < a[0]);
}
Out b_gte(const Args& a, BuiltinContext&) {
  return Value::boolean(!(a[0] < a[1]));
}

// --- arithmetic and sets ----------------------------------------------------------------
Out arith(const Args& a, BuiltinContext& ctx, char op, const char* fn) {
  if (op == '-' && a[0].is_set() && a[1].is_set()) {
    Set out;
    for (const auto& v : a[0].as_set()) {
      if (!a[1].as_set().count(v)) out.insert(v);
    }
    return Value::set(std::move(out));
  }
  WANT(0, kNumber, fn);
  WANT(1, kNumber, fn);
  const Value &x = a[0], &y = a[1];
  if (x.is_int() && y.is_int()) {
    int64_t r = 0, p = x.as_int(), q = y.as_int();
    switch (op) {
      case '+':
        if (!__builtin_add_overflow(p, q, &r)) return Value::integer(r);
        break;
      case '-':
        if (!__builtin_sub_overflow(p, q, &r)) return Value::integer(r);
        break;
      case '*':
        if (!__builtin_mul_overflow(p, q, &r)) return Value::integer(r);
        break;
      case '%':
        if (q == 0) return fail(ctx, "rem: modulo by zero");
        return Value::integer(p % q);
      default:
        break;
    }
  }
  if (op == '%') return fail(ctx, "rem: modulo on floating-point number");
  double p = x.as_double(), q = y.as_double();
  switch (op) {
    case '+':
      return Value::number(p + q);
    case '-':
      return Value::number(p - q);
    case '*':
      return Value::number(p * q);
    case '/':
      if (q == 0) return fail(ctx, "div: divide by zero");
      return Value::number(p / q);
  }
  return std::nullopt;
}
Out b_plus(const Args& a, BuiltinContext& c) {
  return arith(a, c, '+', "plus");
}
Out b_minus(const Args& a, BuiltinContext& c) {
  return arith(a, c, '-', "minus");
}
Out b_mul(const Args& a, BuiltinContext& c) {
  return arith(a, c, '*', "mul");
}
Out b_div(const Args& a, BuiltinContext& c) {
  return arith(a, c, '/', "div");
}
Out b_rem(const Args& a, BuiltinContext& c) {
  return arith(a, c, '%', "rem");
}
Out b_or(const Args& a, BuiltinContext& ctx) {
  WANT(0, kSet, "or");
  WANT(1, kSet, "or");
  Set out = a[0].as_set();
  out.insert(a[1].as_set().begin(), a[1].as_set().end());
  return Value::set(std::move(out));
}
Out b_and(const Args& a, BuiltinContext& ctx) {
  WANT(0, kSet, "and");
  WANT(1, kSet, "and");
  Set out;
  for (const auto& v : a[0].as_set()) {
    if (a[1].as_set().count(v)) out.insert(v);
  }
  return Value::set(std::move(out));
}
Out b_abs(const Args& a, BuiltinContext& ctx) {
  WANT(0, kNumber, "abs");
  return a[0].is_int() ? Value::integer(std::llabs(a[0].as_int()))
                       : Value::number(std::fabs(a[0].as_double()));
}
Out b_round(const Args& a, BuiltinContext& ctx) {
  WANT(0, kNumber, "round");
  return Value::number(std::round(a[0].as_double()));
}

Out member(const Value& coll, const Value* key, const Value& val) {
  switch (coll.kind()) {
    case Value::Kind::kArray: {
      const auto& arr = coll.as_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        if (arr[i] == val && (!key || *key == Value::integer(static_cast<int64_t>(i))))
          return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    case Value::Kind::kSet:
      if (key && *key != val) return Value::boolean(false);
      return Value::boolean(coll.as_set().count(val) > 0);
    case Value::Kind::kObject:
      for (const auto& [k, v] : coll.as_object()) {
        if (v == val && (!key || *key == k)) return Value::boolean(true);
      }
      return Value::boolean(false);
    default:
      return Value::boolean(false);
  }
}
Out b_member2(const Args& a, BuiltinContext&) {
  return member(a[1], nullptr, a[0]);
}
Out b_member3(const Args& a, BuiltinContext&) {
  return member(a[2], &a[0], a[1]);
}

// --- aggregates ---------------------------------------------------------------------------
Out b_count(const Args& a, BuiltinContext& ctx) {
  switch (a[0].kind()) {
    case Value::Kind::kArray:
      return Value::integer(static_cast<int64_t>(a[0].as_array().size()));
    case Value::Kind::kSet:
      return Value::integer(static_cast<int64_t>(a[0].as_set().size()));
    case Value::Kind::kObject:
      return Value::integer(static_cast<int64_t>(a[0].as_object().size()));
    case Value::Kind::kString: {
      int64_t n = 0;  // runes, not bytes
      for (unsigned char c : a[0].as_string()) n += (c & 0xC0) != 0x80;
      return Value::integer(n);
    }
    default:
      return fail(ctx, "count: operand 1 must be one of {array, object, set, string} but got " +
                           std::string(a[0].type_name()));
  }
}
// Elements of an array or set, in order.
bool elements(const Value& v, std::vector<Value>& out) {
  if (v.is_array()) {
    out = v.as_array();
    return true;
  }
  if (v.is_set()) {
    out.assign(v.as_set().begin(), v.as_set().end());
    return true;
  }
  return false;
}
Out b_sum(const Args& a, BuiltinContext& ctx) {
  std::vector<Value> xs;
  if (!elements(a[0], xs)) return fail(ctx, "sum: operand 1 must be one of {array, set}");
  Value acc = Value::integer(0);
  for (const auto& x : xs) {
    auto r = arith({acc, x}, ctx, '+', "sum");
    if (!r) return r;
    acc = *r;
  }
  return acc;
}
Out b_max(const Args& a, BuiltinContext& ctx) {
  std::vector<Value> xs;
  if (!elements(a[0], xs)) return fail(ctx, "max: operand 1 must be one of {array, set}");
  if (xs.empty()) return std::nullopt;
  return *std::max_element(xs.begin(), xs.end());
}
Out b_min(const Args& a, BuiltinContext& ctx) {
  std::vector<Value> xs;
  if (!elements(a[0], xs)) return fail(ctx, "min: operand 1 must be one of {array, set}");
  if (xs.empty()) return std::nullopt;
  return *std::min_element(xs.begin(), xs.end());
}
Out b_sort(const Args& a, BuiltinContext& ctx) {
  std::vector<Value> xs;
  if (!elements(a[0], xs)) return fail(ctx, "sort: operand 1 must be one of {array, set}");
  std::sort(xs.begin(), xs.end());
  return Value::array(std::move(xs));
}

// --- strings --------------------------------------------------------------------------------
Out b_startswith(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "startswith");
  WANT(1, kString, "startswith");
  return Value::boolean(a[0].as_string().rfind(a[1].as_string(), 0) == 0);
}
Out b_endswith(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "endswith");
  WANT(1, kString, "endswith");
  const auto &s = a[0].as_string(), &x = a[1].as_string();
  return Value::boolean(s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0);
}
Out b_contains(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "contains");
  WANT(1, kString, "contains");
  return Value::boolean(a[0].as_string().find(a[1].as_string()) != std::string::npos);
}
Out b_indexof(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "indexof");
  WANT(1, kString, "indexof");
  auto p = a[0].as_string().find(a[1].as_string());
  return Value::integer(p == std::string::npos ? -1 : static_cast<int64_t>(p));
}
Out b_split(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "split");
  WANT(1, kString, "split");
  const auto &s = a[0].as_string(), &d = a[1].as_string();
  Array out;
  if (d.empty()) {
    for (char c : s) out.push_back(Value::string(std::string(1, c)));
    return Value::array(std::move(out));
  }
  size_t start = 0;
  while (true) {
    auto p = s.find(d, start);
    if (p == std::string::npos) break;
    out.push_back(Value::string(s.substr(start, p - start)));
    start = p + d.size();
  }
  out.push_back(Value::string(s.substr(start)));
  return Value::array(std::move(out));
}
Out b_concat(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "concat");
  std::vector<Value> xs;
  if (!elements(a[1], xs)) return fail(ctx, "concat: operand 2 must be one of {array, set}");
  std::string out;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].is_string()) return fail(ctx, "concat: operand 2 must contain strings");
    if (i) out += a[0].as_string();
    out += xs[i].as_string();
  }
  return Value::string(std::move(out));
}
Out b_lower(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "lower");
  std::string s = a[0].as_string();
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Value::string(std::move(s));
}
Out b_upper(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "upper");
  std::string s = a[0].as_string();
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return Value::string(std::move(s));
}
std::string trim_chars(const std::string& s, const std::string& cut, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && cut.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && cut.find(s[e - 1]) != std::string::npos) --e;
  }
  return s.substr(b, e - b);
}
Out b_trim(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim");
  WANT(1, kString, "trim");
  return Value::string(trim_chars(a[0].as_string(), a[1].as_string(), true, true));
}
Out b_trim_left(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim_left");
  WANT(1, kString, "trim_left");
  return Value::string(trim_chars(a[0].as_string(), a[1].as_string(), true, false));
}
Out b_trim_right(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim_right");
  WANT(1, kString, "trim_right");
  return Value::string(trim_chars(a[0].as_string(), a[1].as_string(), false, true));
}
Out b_trim_space(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim_space");
  return Value::string(trim_chars(a[0].as_string(), " \t\n\r\v\f", true, true));
}
Out b_trim_prefix(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim_prefix");
  WANT(1, kString, "trim_prefix");
  const auto &s = a[0].as_string(), &p = a[1].as_string();
  return Value::string(s.rfind(p, 0) == 0 ? s.substr(p.size()) : s);
}
Out b_trim_suffix(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "trim_suffix");
  WANT(1, kString, "trim_suffix");
  const auto &s = a[0].as_string(), &p = a[1].as_string();
  bool ends = s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
  return Value::string(ends ? s.substr(0, s.size() - p.size()) : s);
}
Out b_replace(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "replace");
  WANT(1, kString, "replace");
  WANT(2, kString, "replace");
  const auto &s = a[0].as_string(), &from = a[1].as_string(), &to = a[2].as_string();
  if (from.empty()) return a[0];
  std::string out;
  size_t start = 0;
  while (true) {
    auto p = s.find(from, start);
    if (p == std::string::npos) break;
    out += s.substr(start, p - start) + to;
    start = p + from.size();
  }
  out += s.substr(start);
  return Value::string(std::move(out));
}
Out b_substring(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "substring");
  WANT(1, kNumber, "substring");
  WANT(2, kNumber, "substring");
  const auto& s = a[0].as_string();
  int64_t off = a[1].as_int(), len = a[2].as_int();
  if (off < 0) return fail(ctx, "substring: negative offset");
  if (off >= static_cast<int64_t>(s.size())) return Value::string("");
  if (len < 0) return Value::string(s.substr(static_cast<size_t>(off)));
  return Value::string(s.substr(static_cast<size_t>(off), static_cast<size_t>(len)));
}

// Go's %v for Rego values: strings bare, composites as Rego text.
std::string format_v(const Value& v) {
  if (v.is_string()) return v.as_string();
  return v.to_string();
}
Out b_sprintf(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "sprintf");
  WANT(1, kArray, "sprintf");
  const auto& f = a[0].as_string();
  const auto& xs = a[1].as_array();
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < f.size() && std::strchr("+-# 0123456789.", f[j])) ++j;
    if (j >= f.size()) return fail(ctx, "sprintf: bad format");
    std::string spec = f.substr(i, j - i);
    char verb = f[j];
    i = j;
    if (n >= xs.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const Value& x = xs[n++];
    char buf[128];
    switch (verb) {
      case 'v':
      case 's':
        out += format_v(x);
        break;
      case 'q':
        out += x.is_string() ? Value::string(x.as_string()).to_string() : format_v(x);
        break;
      case 'd':
        if (x.is_number() && x.is_int()) {
          std::snprintf(buf, sizeof buf, (spec + "lld").c_str(),
                        static_cast<long long>(x.as_int()));
          out += buf;
        } else {
          out += "%!d(" + format_v(x) + ")";
        }
        break;
      case 'f':
      case 'e':
      case 'g':
        if (x.is_number()) {
          std::snprintf(buf, sizeof buf, (spec + verb).c_str(), x.as_double());
          out += buf;
        } else {
          out += std::string("%!") + verb + "(" + format_v(x) + ")";
        }
        break;
      case 'x':
      case 'X':
        if (x.is_number() && x.is_int()) {
          std::snprintf(buf, sizeof buf, (spec + "ll" + verb).c_str(),
                        static_cast<long long>(x.as_int()));
          out += buf;
        } else if (x.is_string()) {
          static const char* kHex = "0123456789abcdef";
          for (unsigned char c : x.as_string()) {
            out += kHex[c >> 4];
            out += kHex[c & 15];
          }
        }
        break;
      case 't':
        out += format_v(x);
        break;
      default:
        out += std::string("%!") + verb + "(" + format_v(x) + ")";
        break;
    }
  }
  return Value::string(std::move(out));
}

// --- glob and regex -------------------------------------------------------------------------
// gobwas/glob semantics as OPA uses them: * stops at delimiters, ** does not, ? one
// non-delimiter character, [..] classes, {a,b} alternatives.
bool glob_at(const std::string& p, size_t pi, const std::string& s, size_t si,
             const std::string& delims) {
  while (pi < p.size()) {
    char c = p[pi];
    if (c == '*') {
      bool super = pi + 1 < p.size() && p[pi + 1] == '*';
      size_t next = pi + (super ? 2 : 1);
      for (size_t k = si; k <= s.size(); ++k) {
        if (glob_at(p, next, s, k, delims)) return true;
        if (k < s.size() && !super && delims.find(s[k]) != std::string::npos) return false;
      }
      return false;
    }
    if (c == '{') {
      size_t close = p.find('}', pi);
      if (close == std::string::npos) return false;
      std::string rest = p.substr(close + 1);
      size_t start = pi + 1;
      while (true) {
        size_t comma = p.find(',', start);
        if (comma == std::string::npos || comma > close) comma = close;
        std::string alt = p.substr(start, comma - start) + rest;
        if (glob_at(alt, 0, s, si, delims)) return true;
        if (comma == close) return false;
        start = comma + 1;
      }
    }
    if (si >= s.size()) return false;
    if (c == '?') {
      if (delims.find(s[si]) != std::string::npos) return false;
    } else if (c == '[') {
      size_t close = p.find(']', pi);
      if (close == std::string::npos) return false;
      bool neg = pi + 1 < close && (p[pi + 1] == '!' || p[pi + 1] == '^');
      bool hit = false;
      for (size_t k = pi + 1 + (neg ? 1 : 0); k < close; ++k) {
        if (k + 2 < close && p[k + 1] == '-') {
          hit |= s[si] >= p[k] && s[si] <= p[k + 2];
          k += 2;
        } else {
          hit |= s[si] == p[k];
        }
      }
      if (hit == neg) return false;
      pi = close;
    } else {
      if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
      if (s[si] != c) return false;
    }
    ++pi;
    ++si;
  }
  return si == s.size();
}
Out b_glob_match(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "glob.match");
  WANT(2, kString, "glob.match");
  std::string delims;
  if (a[1].is_null()) {
    delims = "";
  } else if (a[1].is_array()) {
    for (const auto& d : a[1].as_array()) {
      if (!d.is_string()) return fail(ctx, "glob.match: delimiters must be strings");
      delims += d.as_string();
    }
    if (a[1].as_array().empty()) delims = ".";
  } else {
    return fail(ctx, "glob.match: operand 2 must be one of {array, null}");
  }
  return Value::boolean(glob_at(a[0].as_string(), 0, a[2].as_string(), 0, delims));
}
Out b_regex_match(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "regex.match");
  WANT(1, kString, "regex.match");
  // std::regex backtracks recursively: bound the work so hostile input cannot exhaust the stack.
  if (a[0].as_string().size() > 512 || a[1].as_string().size() > 4096) {
    return fail(ctx, "regex.match: pattern or text too long for this engine");
  }
  try {
    std::regex re(a[0].as_string(), std::regex::ECMAScript);
    return Value::boolean(std::regex_search(a[1].as_string(), re));
  } catch (const std::regex_error&) {
    return fail(ctx, "regex.match: invalid regular expression");
  }
}

// --- objects and arrays -----------------------------------------------------------------------
Out b_object_get(const Args& a, BuiltinContext& ctx) {
  WANT(0, kObject, "object.get");
  if (a[1].is_array()) {
    const Value* cur = &a[0];
    for (const auto& k : a[1].as_array()) {
      cur = cur->get(k);
      if (!cur) return a[2];
    }
    return *cur;
  }
  const Value* v = a[0].get(a[1]);
  return v ? *v : a[2];
}
Out b_object_keys(const Args& a, BuiltinContext& ctx) {
  WANT(0, kObject, "object.keys");
  Set out;
  for (const auto& kv : a[0].as_object()) out.insert(kv.first);
  return Value::set(std::move(out));
}
Out b_array_concat(const Args& a, BuiltinContext& ctx) {
  WANT(0, kArray, "array.concat");
  WANT(1, kArray, "array.concat");
  Array out = a[0].as_array();
  out.insert(out.end(), a[1].as_array().begin(), a[1].as_array().end());
  return Value::array(std::move(out));
}
Out b_array_slice(const Args& a, BuiltinContext& ctx) {
  WANT(0, kArray, "array.slice");
  WANT(1, kNumber, "array.slice");
  WANT(2, kNumber, "array.slice");
  const auto& arr = a[0].as_array();
  int64_t n = static_cast<int64_t>(arr.size());
  int64_t s = std::clamp<int64_t>(a[1].as_int(), 0, n),
          e = std::clamp<int64_t>(a[2].as_int(), 0, n);
  if (s > e) s = e;
  return Value::array(Array(arr.begin() + s, arr.begin() + e));
}

// --- types ---------------------------------------------------------------------------------
template <Value::Kind K>
Out b_is(const Args& a, BuiltinContext&) {
  return Value::boolean(a[0].kind() == K);
}
Out b_type_name(const Args& a, BuiltinContext&) {
  return Value::string(std::string(a[0].type_name()));
}
Out b_to_number(const Args& a, BuiltinContext& ctx) {
  if (a[0].is_number()) return a[0];
  if (a[0].is_null()) return Value::integer(0);
  if (a[0].is_bool()) return Value::integer(a[0].as_bool() ? 1 : 0);
  if (a[0].is_string()) {
    auto j = parse_json(a[0].as_string());
    if (j && j->is_number()) return Value::from_json(*j);
    return fail(ctx, "to_number: invalid syntax");
  }
  return fail(ctx, "to_number: operand 1 must be one of {boolean, null, number, string}");
}

// --- encoding ------------------------------------------------------------------------------
// JSON text to a Value through a parse tree kept in a stack buffer: the tree is thrown away
// at once, so it need not be allocated node by node (io.jwt.decode runs this twice per call).
// Same limits as core's parse_json. Error: the parser's message.
std::optional<Value> json_to_value(std::string_view text, std::string* error) {
  unsigned char buffer[4096];
  boost::json::monotonic_resource arena(buffer, sizeof buffer);
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  boost::json::value tree = boost::json::parse(text, ec, &arena, options);
  if (ec) {
    *error = "invalid JSON: " + ec.message();
    return std::nullopt;
  }
  return Value::from_json(tree);
}

Out b_json_unmarshal(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "json.unmarshal");
  std::string error;
  auto v = json_to_value(a[0].as_string(), &error);
  if (!v) return fail(ctx, "json.unmarshal: " + error);
  return *v;
}
Out b_json_marshal(const Args& a, BuiltinContext&) {
  return Value::string(to_json(a[0].to_json()));
}
Out b_base64url_decode(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "base64url.decode");
  // OPA accepts padded and unpadded input.
  std::string s = a[0].as_string();
  while (!s.empty() && s.back() == '=') s.pop_back();
  auto d = base64url_decode(s);
  if (!d) return fail(ctx, "base64url.decode: illegal base64 data");
  return Value::string(std::move(*d));
}
Out b_base64url_encode(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "base64url.encode");
  std::string s = base64url_encode(a[0].as_string());
  while (s.size() % 4) s += '=';  // OPA pads
  return Value::string(std::move(s));
}

// --- net -----------------------------------------------------------------------------------
struct Cidr {
  int family = 0;
  unsigned char addr[16] = {};
  int prefix = 0;
};
bool parse_cidr(const std::string& text, bool require_prefix, Cidr& out) {
  auto slash = text.find('/');
  if (require_prefix && slash == std::string::npos) return false;
  std::string ip = text.substr(0, slash);
  if (inet_pton(AF_INET, ip.c_str(), out.addr) == 1) {
    out.family = 4;
    out.prefix = 32;
  } else if (inet_pton(AF_INET6, ip.c_str(), out.addr) == 1) {
    out.family = 6;
    out.prefix = 128;
  } else {
    return false;
  }
  if (slash != std::string::npos) {
    std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return false;
    int n = std::stoi(p);
    if (n > out.prefix) return false;
    out.prefix = n;
  }
  return true;
}
bool cidr_has(const Cidr& net, const Cidr& x) {
  if (net.family != x.family || x.prefix < net.prefix) return false;
  for (int bit = 0; bit < net.prefix; ++bit) {
    int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((net.addr[byte] & mask) != (x.addr[byte] & mask)) return false;
  }
  return true;
}
Out b_cidr_contains(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "net.cidr_contains");
  WANT(1, kString, "net.cidr_contains");
  Cidr net, x;
  if (!parse_cidr(a[0].as_string(), true, net))
    return fail(ctx, "net.cidr_contains: invalid CIDR " + a[0].as_string());
  if (!parse_cidr(a[1].as_string(), false, x))
    return fail(ctx, "net.cidr_contains: invalid address " + a[1].as_string());
  return Value::boolean(cidr_has(net, x));
}

// --- time ----------------------------------------------------------------------------------
Out b_now_ns(const Args&, BuiltinContext& ctx) {
  if (!ctx.now_read) {
    if (!ctx.time) return fail(ctx, "time.now_ns: no time source");
    ctx.now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.time->wall().time_since_epoch())
            .count();
    ctx.now_read = true;
  }
  return Value::integer(ctx.now_ns);
}
Out b_parse_rfc3339_ns(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "time.parse_rfc3339_ns");
  const std::string& s = a[0].as_string();
  int y, mo, d, h, mi, sec;
  char tsep;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &tsep, &h, &mi, &sec, &n) !=
          7 ||
      (tsep != 'T' && tsep != 't') || n != 19) {
    return fail(ctx, "time.parse_rfc3339_ns: cannot parse " + s);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return fail(ctx, "time.parse_rfc3339_ns: out of range " + s);
  }
  size_t i = 19;
  int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (digits < 9) {
        frac = frac * 10 + (s[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (digits == 0) return fail(ctx, "time.parse_rfc3339_ns: cannot parse " + s);
    while (digits++ < 9) frac *= 10;
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = std::atoi(s.substr(i + 1, 2).c_str()), om = std::atoi(s.substr(i + 4, 2).c_str());
    offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return fail(ctx, "time.parse_rfc3339_ns: missing time zone in " + s);
  }
  if (i != s.size()) return fail(ctx, "time.parse_rfc3339_ns: trailing text in " + s);
  // Days from civil (Howard Hinnant's algorithm).
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  unsigned yoe = static_cast<unsigned>(yy - era * 400);
  unsigned doy = static_cast<unsigned>((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
  return Value::integer(secs * 1000000000 + frac);
}

// --- JWT -----------------------------------------------------------------------------------
// Splits a compact JWS into decoded header, payload (objects) and signature (hex), as OPA's
// io.jwt.decode does. No verification.
Out decode_jwt(const std::string& token, BuiltinContext& ctx, const char* fn,
               std::string* signing_input, std::string* signature_raw) {
  auto p1 = token.find('.');
  auto p2 = p1 == std::string::npos ? p1 : token.find('.', p1 + 1);
  if (p1 == std::string::npos || p2 == std::string::npos ||
      token.find('.', p2 + 1) != std::string::npos) {
    return fail(ctx, std::string(fn) + ": encoded JWT had no period separators");
  }
  std::string_view text(token);
  auto part = [&](size_t b, size_t e) { return text.substr(b, e - b); };
  auto h = base64url_decode(part(0, p1));
  auto p = base64url_decode(part(p1 + 1, p2));
  auto s = base64url_decode(part(p2 + 1, token.size()));
  if (!h || !p || !s) return fail(ctx, std::string(fn) + ": JWT segment is not valid base64url");
  std::string error;
  auto header = json_to_value(*h, &error);
  if (!header || !header->is_object())
    return fail(ctx, std::string(fn) + ": JWT header is not a JSON object");
  auto payload = json_to_value(*p, &error);
  if (!payload || !payload->is_object())
    return fail(ctx, std::string(fn) + ": JWT payload is not a JSON object");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(s->size() * 2);
  for (unsigned char c : *s) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  if (signing_input) *signing_input = std::string(part(0, p2));
  if (signature_raw) *signature_raw = std::move(*s);
  Array parts;
  parts.reserve(3);
  parts.push_back(std::move(*header));
  parts.push_back(std::move(*payload));
  parts.push_back(Value::string(std::move(hex)));
  return Value::array(std::move(parts));
}
// io.jwt.decode is a pure function of the token, and a client sends the same token with every
// request until it expires: a small per-thread cache spares the base64 and JSON work on the
// next request (OPA keeps an inter-query builtin cache for the same reason). Per thread, so the
// hot path takes no lock; direct-mapped, so it is bounded; failures are not kept (their error
// is reported on every call).
struct JwtDecodeCache {
  static constexpr size_t kSlots = 256;
  static constexpr size_t kMaxToken = 4096;
  struct Slot {
    std::string token;
    Value decoded;
  };
  std::array<Slot, kSlots> slots;
};

Out b_jwt_decode(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "io.jwt.decode");
  const std::string& token = a[0].as_string();
  thread_local JwtDecodeCache cache;
  auto& slot = cache.slots[std::hash<std::string>{}(token) % JwtDecodeCache::kSlots];
  if (!slot.token.empty() && slot.token == token) return slot.decoded;
  auto decoded = decode_jwt(token, ctx, "io.jwt.decode", nullptr, nullptr);
  if (decoded && token.size() <= JwtDecodeCache::kMaxToken) {
    slot.token = token;
    slot.decoded = *decoded;
  }
  return decoded;
}

// Keys from a PEM public key / certificate or a JWKS document.
std::vector<Key> load_keys(const std::string& text) {
  std::vector<Key> keys;
  if (text.find("-----BEGIN") != std::string::npos) {
    if (auto k = Key::from_pem(text)) keys.push_back(*k);
    return keys;
  }
  if (auto jwks = Jwks::parse(text)) {
    for (const auto& e : jwks->entries()) keys.push_back(e.key);
  } else if (auto j = parse_json(text); j && j->is_object()) {
    if (auto k = Key::from_jwk(j->as_object())) keys.push_back(*k);
  }
  return keys;
}

bool verify_with(JwsAlg alg, const std::string& token, const std::string& cert, BuiltinContext& ctx,
                 const char* fn, bool* ok) {
  std::string si, sig;
  auto d = decode_jwt(token, ctx, fn, &si, &sig);
  if (!d) return false;
  auto keys = load_keys(cert);
  if (keys.empty()) {
    ctx.error = std::string(fn) + ": failed to parse a PEM key, certificate or JWKS";
    return false;
  }
  *ok = false;
  for (const auto& k : keys) {
    if (jws_alg_fits_key(alg, k) && jws_verify(alg, k, si, sig)) *ok = true;
  }
  return true;
}
Out b_verify_rs256(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "io.jwt.verify_rs256");
  WANT(1, kString, "io.jwt.verify_rs256");
  bool ok = false;
  if (!verify_with(JwsAlg::kRS256, a[0].as_string(), a[1].as_string(), ctx, "io.jwt.verify_rs256",
                   &ok))
    return std::nullopt;
  return Value::boolean(ok);
}
Out b_verify_es256(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "io.jwt.verify_es256");
  WANT(1, kString, "io.jwt.verify_es256");
  bool ok = false;
  if (!verify_with(JwsAlg::kES256, a[0].as_string(), a[1].as_string(), ctx, "io.jwt.verify_es256",
                   &ok))
    return std::nullopt;
  return Value::boolean(ok);
}

// io.jwt.decode_verify(token, constraints) -> [valid, header, payload]; [false, {}, {}] when
// the signature, alg, iss, aud or time checks fail (OPA's documented behaviour).
Out b_decode_verify(const Args& a, BuiltinContext& ctx) {
  WANT(0, kString, "io.jwt.decode_verify");
  WANT(1, kObject, "io.jwt.decode_verify");
  const Value invalid = Value::array({Value::boolean(false), Value::object({}), Value::object({})});
  std::string si, sig;
  auto d = decode_jwt(a[0].as_string(), ctx, "io.jwt.decode_verify", &si, &sig);
  if (!d) return std::nullopt;
  const Value& header = d->as_array()[0];
  const Value& payload = d->as_array()[1];
  const Value& c = a[1];
  auto get = [&](const char* k) { return c.get(Value::string(k)); };
  const Value* alg_v = header.get(Value::string("alg"));
  if (!alg_v || !alg_v->is_string()) return invalid;
  auto alg = parse_jws_alg(alg_v->as_string());
  if (!alg) return invalid;
  if (const Value* want_alg = get("alg");
      want_alg && (!want_alg->is_string() || want_alg->as_string() != alg_v->as_string())) {
    return invalid;
  }
  const Value* cert = get("cert");
  if (!cert || !cert->is_string()) {
    if (get("secret")) return fail(ctx, "io.jwt.decode_verify: HMAC secrets are not supported");
    return fail(ctx, "io.jwt.decode_verify: constraints need a cert");
  }
  auto keys = load_keys(cert->as_string());
  if (keys.empty()) return fail(ctx, "io.jwt.decode_verify: failed to parse the cert");
  bool ok = false;
  for (const auto& k : keys) {
    if (jws_alg_fits_key(*alg, k) && jws_verify(*alg, k, si, sig)) ok = true;
  }
  if (!ok) return invalid;
  int64_t now_ns = 0;
  if (const Value* t = get("time"); t && t->is_number()) {
    now_ns = t->as_int();
  } else {
    auto n = b_now_ns({}, ctx);
    if (!n) return std::nullopt;
    now_ns = n->as_int();
  }
  double now_s = static_cast<double>(now_ns) / 1e9;
  if (const Value* exp = payload.get(Value::string("exp"))) {
    if (!exp->is_number() || now_s >= exp->as_double()) return invalid;
  }
  if (const Value* nbf = payload.get(Value::string("nbf"))) {
    if (!nbf->is_number() || now_s < nbf->as_double()) return invalid;
  }
  if (const Value* iss = get("iss")) {
    const Value* have = payload.get(Value::string("iss"));
    if (!have || *have != *iss) return invalid;
  }
  const Value* aud = payload.get(Value::string("aud"));
  if (const Value* want_aud = get("aud")) {
    bool hit = false;
    if (aud && aud->is_string()) hit = *aud == *want_aud;
    if (aud && aud->is_array()) {
      for (const auto& x : aud->as_array()) hit |= x == *want_aud;
    }
    if (!hit) return invalid;
  } else if (aud) {
    return invalid;  // a token with an audience needs the caller to name one
  }
  return Value::array({Value::boolean(true), header, payload});
}

const Builtin kBuiltins[] = {
    {"equal", 2, b_equal},
    {"neq", 2, b_neq},
    {"lt", 2, b_lt},
    {"lte", 2, b_lte},
    {"gt", 2, b_gt},
    {"gte", 2, b_gte},
    {"plus", 2, b_plus},
    {"minus", 2, b_minus},
    {"mul", 2, b_mul},
    {"div", 2, b_div},
    {"rem", 2, b_rem},
    {"or", 2, b_or},
    {"and", 2, b_and},
    {"abs", 1, b_abs},
    {"round", 1, b_round},
    {"internal.member_2", 2, b_member2},
    {"internal.member_3", 3, b_member3},
    {"count", 1, b_count},
    {"sum", 1, b_sum},
    {"max", 1, b_max},
    {"min", 1, b_min},
    {"sort", 1, b_sort},
    {"startswith", 2, b_startswith},
    {"endswith", 2, b_endswith},
    {"contains", 2, b_contains},
    {"indexof", 2, b_indexof},
    {"split", 2, b_split},
    {"concat", 2, b_concat},
    {"lower", 1, b_lower},
    {"upper", 1, b_upper},
    {"trim", 2, b_trim},
    {"trim_left", 2, b_trim_left},
    {"trim_right", 2, b_trim_right},
    {"trim_space", 1, b_trim_space},
    {"trim_prefix", 2, b_trim_prefix},
    {"trim_suffix", 2, b_trim_suffix},
    {"replace", 3, b_replace},
    {"substring", 3, b_substring},
    {"sprintf", 2, b_sprintf},
    {"glob.match", 3, b_glob_match},
    {"regex.match", 2, b_regex_match},
    {"object.get", 3, b_object_get},
    {"object.keys", 1, b_object_keys},
    {"array.concat", 2, b_array_concat},
    {"array.slice", 3, b_array_slice},
    {"is_null", 1, b_is<Value::Kind::kNull>},
    {"is_boolean", 1, b_is<Value::Kind::kBool>},
    {"is_number", 1, b_is<Value::Kind::kNumber>},
    {"is_string", 1, b_is<Value::Kind::kString>},
    {"is_array", 1, b_is<Value::Kind::kArray>},
    {"is_object", 1, b_is<Value::Kind::kObject>},
    {"is_set", 1, b_is<Value::Kind::kSet>},
    {"type_name", 1, b_type_name},
    {"to_number", 1, b_to_number},
    {"json.unmarshal", 1, b_json_unmarshal},
    {"json.marshal", 1, b_json_marshal},
    {"base64url.decode", 1, b_base64url_decode},
    {"base64url.encode", 1, b_base64url_encode},
    {"net.cidr_contains", 2, b_cidr_contains},
    {"time.now_ns", 0, b_now_ns, false},
    {"time.parse_rfc3339_ns", 1, b_parse_rfc3339_ns},
    {"io.jwt.decode", 1, b_jwt_decode},
    {"io.jwt.decode_verify", 2, b_decode_verify, false},  // exp/nbf against the clock
    {"io.jwt.verify_rs256", 2, b_verify_rs256},
    {"io.jwt.verify_es256", 2, b_verify_es256},
};

}  // namespace

const Builtin* find_builtin(std::string_view name) {
  for (const auto& b : kBuiltins) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

}  // namespace gatedrill::policy
