#include "loadgen/request_plan.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/util/strings.hpp"

namespace gatedrill::loadgen {
namespace {

bool is_token_char(char c) {
  // RFC 9110 tchar
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

bool has_line_break(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos ||
         s.find('\0') != std::string_view::npos;
}

}  // namespace

std::string Target::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

Result<Target> parse_url(std::string_view url) {
  Target t;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    t.tls = true;
    rest = url.substr(8);
  } else {
    return make_error("bad_url", "'" + std::string(url) + "' must start with http:// or https://");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (authority.find('@') != std::string_view::npos)
    return make_error("bad_url", "'" + std::string(url) + "': user info in URLs is not supported");
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return make_error("bad_url", "'" + std::string(url) + "': unclosed '[' in host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return make_error("bad_url", "'" + std::string(url) + "': junk after ']'");
      port = after.substr(1);
      if (port.empty()) return make_error("bad_url", "'" + std::string(url) + "': empty port");
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return make_error("bad_url", "'" + std::string(url) + "': empty port");
  }
  if (host.empty()) return make_error("bad_url", "'" + std::string(url) + "' has no host");
  for (char c : host)
    if (c == ' ' || c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x21)
      return make_error("bad_url", "'" + std::string(url) + "': invalid character in host");
  t.host = std::string(host);
  t.port = t.tls ? 443 : 80;
  if (!port.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535)
      return make_error("bad_url", "'" + std::string(url) + "': port must be 1..65535, got '" +
                                       std::string(port) + "'");
    t.port = p;
  }
  if (path.empty()) {
    t.target = "/";
  } else if (path[0] == '?') {
    t.target = "/" + std::string(path);
  } else {
    t.target = std::string(path);
  }
  for (char c : t.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return make_error("bad_url",
                        "'" + std::string(url) + "': spaces or control characters in the path");
  return t;
}

Result<WeightedPath> parse_weighted_path(std::string_view text) {
  WeightedPath out;
  std::string_view path = text;
  if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view digits = text.substr(colon + 1);
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
      int w = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), w);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || w < 1 || w > 1'000'000)
        return make_error("bad_options",
                          "path '" + std::string(text) + "': the weight must be 1..1000000");
      out.weight = w;
      path = text.substr(0, colon);
    }
  }
  if (path.empty() || path[0] != '/')
    return make_error("bad_options", "path '" + std::string(text) + "' must start with '/'");
  out.path = std::string(path);
  return out;
}

std::string corrupt_token(const std::string& token) {
  size_t dot = token.rfind('.');
  if (dot == std::string::npos || dot + 1 >= token.size()) return token + "x";
  std::string out = token;
  // The signature's first character carries six whole bits of it (the last one may carry only
  // padding bits a lenient decoder ignores).
  char& c = out[dot + 1];
  c = c == 'A' ? 'B' : 'A';
  return out;
}

Result<std::vector<std::string>> build_requests(const Target& target, const LoadRequestSpec& spec) {
  if (!is_token(spec.method))
    return make_error("bad_options", "method '" + spec.method + "' is not a valid HTTP method");
  bool has_host = false, has_length = false;
  std::string common;
  for (const auto& [name, value] : spec.headers) {
    if (!is_token(name))
      return make_error("bad_options", "header name '" + name + "' is not a valid HTTP token");
    if (has_line_break(value))
      return make_error("bad_options", "header '" + name + "' has a line break in its value");
    if (iequals(name, "host")) has_host = true;
    if (iequals(name, "content-length")) has_length = true;
    if (iequals(name, "transfer-encoding"))
      return make_error(
          "bad_options",
          "header Transfer-Encoding is not supported (bodies are sent with Content-Length)");
    common += name + ": " + value + "\r\n";
  }
  if (!(spec.bad_token_share >= 0 && spec.bad_token_share <= 1))
    return make_error("bad_options", "the bad token share must be 0..1");
  if (spec.bad_token_share > 0 && spec.bearer_tokens.empty())
    return make_error("bad_options", "a bad token share needs bearer tokens");
  for (const auto* list : {&spec.bearer_tokens, &spec.bad_bearer_tokens})
    for (const auto& token : *list)
      if (token.empty() || has_line_break(token) || token.find(' ') != std::string::npos)
        return make_error("bad_options", "a bearer token is empty or holds spaces or line breaks");

  std::vector<WeightedPath> paths = spec.paths;
  if (paths.empty()) paths.push_back({target.target, 1});
  int64_t weight_sum = 0;
  for (const auto& p : paths) {
    if (p.weight < 1)
      return make_error("bad_options", "path '" + p.path + "': weight must be >= 1");
    if (p.path.empty() || p.path[0] != '/')
      return make_error("bad_options", "path '" + p.path + "' must start with '/'");
    for (char c : p.path)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
        return make_error("bad_options",
                          "path '" + p.path + "' holds spaces or control characters");
    weight_sum += p.weight;
  }

  auto head_for = [&](const std::string& path) {
    std::string head = spec.method + " " + path + " HTTP/1.1\r\n";
    if (!has_host) head += "Host: " + target.host_header() + "\r\n";
    head += common;
    if (!has_length && (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT" ||
                        spec.method == "PATCH"))
      head += "Content-Length: " + std::to_string(spec.body.size()) + "\r\n";
    return head;
  };
  const double share = spec.bad_token_share;
  const int64_t good_count = static_cast<int64_t>(spec.bearer_tokens.size());
  bool mixed = paths.size() > 1 || share > 0;
  // The cycle: every good token once, shares resolved to 0.1%, whole rounds of the weights.
  int64_t cycle = std::max<int64_t>(good_count, 1);
  if (mixed) {
    if (share < 1)
      cycle = std::max<int64_t>(
          cycle, static_cast<int64_t>(std::ceil(static_cast<double>(good_count) / (1 - share))));
    cycle = std::max<int64_t>(cycle, 1000);
    cycle = (cycle + weight_sum - 1) / weight_sum * weight_sum;
  }
  // Requests are pre-built, so the cycle costs memory; refuse rather than swap.
  size_t longest = spec.body.size() + 256 + common.size();
  for (const auto& p : paths) longest += p.path.size();
  for (const auto& t : spec.bearer_tokens)
    longest = std::max(longest, t.size() + 256 + common.size());
  if (static_cast<double>(cycle) * static_cast<double>(longest) > 1024.0 * 1024 * 1024)
    return make_error("bad_options", "the request mix needs " + std::to_string(cycle) +
                                         " pre-built requests, more than 1 GiB: use a smaller "
                                         "body, fewer tokens or no mix");
  std::vector<std::string> bad_tokens = spec.bad_bearer_tokens;
  if (share > 0 && bad_tokens.empty())
    for (const auto& t : spec.bearer_tokens) bad_tokens.push_back(corrupt_token(t));

  std::vector<std::string> heads;
  heads.reserve(paths.size());
  for (const auto& p : paths) heads.push_back(head_for(p.path));
  std::vector<int64_t> current(paths.size(), 0);  // smooth weighted round robin state
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(cycle));
  size_t good_next = 0, bad_next = 0;
  for (int64_t k = 0; k < cycle; ++k) {
    size_t pick = 0;
    for (size_t i = 0; i < paths.size(); ++i) {
      current[i] += paths[i].weight;
      if (current[i] > current[pick]) pick = i;
    }
    current[pick] -= weight_sum;
    // Slot k is bad when the running count of bad slots, floor((k + 1) * share), steps up.
    bool bad = share > 0 && std::floor(static_cast<double>(k + 1) * share) >
                                std::floor(static_cast<double>(k) * share);
    std::string request = heads[pick];
    if (bad) {
      request += "Authorization: Bearer " + bad_tokens[bad_next++ % bad_tokens.size()] + "\r\n";
    } else if (good_count > 0) {
      request += "Authorization: Bearer " +
                 spec.bearer_tokens[good_next++ % spec.bearer_tokens.size()] + "\r\n";
    }
    request += "\r\n" + spec.body;
    out.push_back(std::move(request));
  }
  return out;
}

}  // namespace gatedrill::loadgen
