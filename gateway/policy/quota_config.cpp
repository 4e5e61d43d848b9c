#include "gateway/policy/quota_config.hpp"

#include <cctype>
#include <charconv>

#include "core/util/strings.hpp"

namespace gatedrill {
namespace {

struct Line {
  int number;
  size_t indent;
  std::string_view text;  // without indentation and trailing comment/space
};

Error yaml_error(int line, const std::string& msg) {
  return make_error("bad_yaml", "line " + std::to_string(line) + ": " + msg);
}

Result<boost::json::value> scalar(std::string_view s, int line) {
  s = trim(s);
  if (s.empty()) return boost::json::value(nullptr);
  if (s.front() == '"' || s.front() == '\'') {
    if (s.size() < 2 || s.back() != s.front())
      return yaml_error(line, "unterminated quoted string");
    return boost::json::value(boost::json::string(s.substr(1, s.size() - 2)));
  }
  if (s.front() == '{' || s.front() == '[' || s.front() == '&' || s.front() == '*' ||
      s.front() == '|' || s.front() == '>') {
    return yaml_error(line, "unsupported YAML (flow style, anchors, block scalars)");
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc() && p == s.data() + s.size()) return boost::json::value(n);
  if (s == "true" || s == "false") return boost::json::value(s == "true");
  if (s == "null" || s == "~") return boost::json::value(nullptr);
  return boost::json::value(boost::json::string(s));
}

class Parser {
 public:
  explicit Parser(std::vector<Line> lines) : lines_(std::move(lines)) {}
  Result<boost::json::value> block(size_t indent) {
    if (i_ >= lines_.size()) return boost::json::value(nullptr);
    // Configs are shallow; hostile nesting must not exhaust the stack.
    if (++depth_ > 32) return yaml_error(lines_[i_].number, "nesting too deep");
    auto v = block_inner(indent);
    --depth_;
    return v;
  }
  Result<boost::json::value> block_inner(size_t indent) {
    if (lines_[i_].text.rfind("- ", 0) == 0 || lines_[i_].text == "-") return sequence(indent);
    return mapping(indent);
  }
  bool done() const { return i_ >= lines_.size(); }
  int line() const { return i_ < lines_.size() ? lines_[i_].number : 0; }

 private:
  std::vector<Line> lines_;
  size_t i_ = 0;
  int depth_ = 0;

  Result<boost::json::value> sequence(size_t indent) {
    boost::json::array out;
    while (i_ < lines_.size() && lines_[i_].indent == indent &&
           (lines_[i_].text.rfind("- ", 0) == 0 || lines_[i_].text == "-")) {
      Line& l = lines_[i_];
      std::string_view rest = l.text.size() > 1 ? trim(l.text.substr(2)) : std::string_view();
      if (rest.empty()) {
        ++i_;
        if (i_ >= lines_.size() || lines_[i_].indent <= indent)
          return yaml_error(l.number, "empty list item");
        auto v = block(lines_[i_].indent);
        if (!v) return v.error();
        out.push_back(std::move(*v));
        continue;
      }
      if (rest.find(": ") != std::string_view::npos || rest.back() == ':') {
        // "- key: value" opens a map whose other keys sit two columns further in.
        l.indent = indent + 2;
        l.text = rest;
        auto v = mapping(indent + 2);
        if (!v) return v.error();
        out.push_back(std::move(*v));
        continue;
      }
      auto v = scalar(rest, l.number);
      if (!v) return v.error();
      out.push_back(std::move(*v));
      ++i_;
    }
    return boost::json::value(std::move(out));
  }

  Result<boost::json::value> mapping(size_t indent) {
    boost::json::object out;
    while (i_ < lines_.size() && lines_[i_].indent == indent) {
      const Line& l = lines_[i_];
      auto colon = l.text.find(':');
      if (colon == std::string_view::npos ||
          (colon + 1 < l.text.size() && l.text[colon + 1] != ' ')) {
        return yaml_error(l.number, "expected 'key: value'");
      }
      std::string key(trim(l.text.substr(0, colon)));
      if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'') &&
          key.back() == key.front())
        key = key.substr(1, key.size() - 2);
      if (out.contains(key)) return yaml_error(l.number, "duplicate key '" + key + "'");
      std::string_view rest = trim(l.text.substr(colon + 1));
      ++i_;
      if (!rest.empty()) {
        auto v = scalar(rest, l.number);
        if (!v) return v.error();
        out[key] = std::move(*v);
      } else if (i_ < lines_.size() && lines_[i_].indent > indent) {
        auto v = block(lines_[i_].indent);
        if (!v) return v.error();
        out[key] = std::move(*v);
      } else if (i_ < lines_.size() && lines_[i_].indent == indent &&
                 lines_[i_].text.rfind("- ", 0) == 0) {
        auto v = sequence(indent);  // a list at the key's own indentation, as YAML allows
        if (!v) return v.error();
        out[key] = std::move(*v);
      } else {
        out[key] = nullptr;
      }
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent)
      return yaml_error(lines_[i_].number, "unexpected indentation");
    return boost::json::value(std::move(out));
  }
};

int64_t positive(const boost::json::object& o, const char* key, bool* ok) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  if (!v->is_int64() || v->as_int64() <= 0) *ok = false;
  return v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

Result<boost::json::value> parse_simple_yaml(std::string_view text) {
  std::vector<Line> lines;
  int number = 0;
  for (auto raw : split(text, '\n')) {
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.find('\t') != std::string_view::npos)
      return yaml_error(number, "tabs are not allowed in YAML indentation");
    size_t indent = raw.find_first_not_of(' ');
    if (indent == std::string_view::npos) continue;
    std::string_view body = raw.substr(indent);
    if (body.front() == '#') continue;
    if (body == "---" || body == "...")
      return yaml_error(number, "multiple documents are not supported");
    // Strip a trailing comment that is not inside quotes.
    bool quoted = false;
    char q = 0;
    for (size_t k = 0; k < body.size(); ++k) {
      char c = body[k];
      if (quoted) {
        if (c == q) quoted = false;
      } else if (c == '"' || c == '\'') {
        quoted = true;
        q = c;
      } else if (c == '#' && k > 0 && body[k - 1] == ' ') {
        body = body.substr(0, k);
        break;
      }
    }
    body = trim(body);
    lines.push_back({number, indent, body});
  }
  if (lines.empty()) return boost::json::value(nullptr);
  Parser p(std::move(lines));
  auto v = p.block(0);
  if (!v) return v;
  if (!p.done()) return yaml_error(p.line(), "unexpected indentation");
  return v;
}

Quota QuotaConfig::for_service(std::string_view service_id) const {
  for (const auto& [id, q] : overrides) {
    if (id == service_id)
      return Quota{q.requests_per_second,
                   q.burst_capacity ? q.burst_capacity : defaults.burst_capacity};
  }
  return defaults;
}

Result<QuotaConfig> parse_quota_config(std::string_view yaml) {
  auto doc = parse_simple_yaml(yaml);
  if (!doc) return doc.error();
  const auto* root = doc->is_object() ? doc->as_object().if_contains("quota_management") : nullptr;
  if (!root || !root->is_object())
    return make_error("bad_quota", "expected a quota_management map");
  const auto& q = root->as_object();
  QuotaConfig c;
  if (const auto* b = q.if_contains("backend"); b && b->is_string())
    c.backend = std::string(b->as_string());
  if (const auto* r = q.if_contains("redis_connection"); r && r->is_string())
    c.redis_connection = std::string(r->as_string());
  const auto* d = q.if_contains("defaults");
  if (!d || !d->is_object())
    return make_error("bad_quota", "quota_management.defaults is required");
  bool ok = true;
  c.defaults.requests_per_second = positive(d->as_object(), "requests_per_second", &ok);
  c.defaults.burst_capacity = positive(d->as_object(), "burst_capacity", &ok);
  if (!ok || c.defaults.requests_per_second == 0) {
    return make_error(
        "bad_quota",
        "defaults.requests_per_second must be a positive integer (and burst_capacity if set)");
  }
  if (const auto* o = q.if_contains("overrides")) {
    if (!o->is_array()) return make_error("bad_quota", "overrides must be a list");
    for (const auto& item : o->as_array()) {
      const auto* id = item.is_object() ? item.as_object().if_contains("service_id") : nullptr;
      if (!id || !id->is_string())
        return make_error("bad_quota", "each override needs a service_id");
      Quota quota;
      quota.requests_per_second = positive(item.as_object(), "requests_per_second", &ok);
      quota.burst_capacity = positive(item.as_object(), "burst_capacity", &ok);
      if (!ok || quota.requests_per_second == 0) {
        return make_error("bad_quota", "override " + std::string(id->as_string()) +
                                           " needs a positive requests_per_second");
      }
      c.overrides.emplace_back(std::string(id->as_string()), quota);
    }
  }
  return c;
}

}  // namespace gatedrill
