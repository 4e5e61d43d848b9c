#include "scenarios/drill_faults.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/util/strings.hpp"
#include "scenarios/faults/toxics.hpp"

namespace gatedrill {

namespace {

Error bad(const FaultAction& a, const std::string& message) {
  return make_error("bad_fault", a.type + ": " + message);
}

std::string param(const FaultAction& a, const char* key, const std::string& fallback = "") {
  auto it = a.params.find(key);
  return it == a.params.end() ? fallback : it->second;
}

Result<void> one_of(const FaultAction& a, const char* key,
                    std::initializer_list<const char*> allowed) {
  auto it = a.params.find(key);
  if (it == a.params.end()) return {};
  std::string known;
  for (const char* v : allowed) {
    if (it->second == v) return {};
    known += (known.empty() ? "" : ", ") + std::string(v);
  }
  return bad(a, std::string(key) + " must be one of " + known + " (got '" + it->second + "')");
}

Result<int64_t> size_param(const FaultAction& a, const char* key, int64_t lo, int64_t hi) {
  auto size = parse_size(param(a, key));
  if (!size) return bad(a, std::string(key) + ": " + size.error().message);
  if (*size < lo || *size > hi)
    return bad(a, std::string(key) + " must be from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + " bytes");
  return *size;
}

// A duration parameter in whole units of `unit_ns` (ms or us), >= 0.
Result<int64_t> duration_param(const FaultAction& a, const char* key, int64_t unit_ns) {
  auto d = parse_duration(param(a, key));
  if (!d) return bad(a, std::string(key) + ": " + d.error().message);
  if (d->count() < 0) return bad(a, std::string(key) + " must be >= 0");
  return d->count() / unit_ns;
}

bool proxied(const Scenario& s, const std::string& node) {
  return std::find(s.topology.proxies.begin(), s.topology.proxies.end(), node) !=
         s.topology.proxies.end();
}

Result<void> needs_proxy(const Scenario& s, const FaultAction& a, const std::string& node) {
  if (proxied(s, node)) return {};
  return bad(a, "no fault proxy in front of '" + node + "'; add it to topology.proxies = { \"" +
                    node + "\" }");
}

}  // namespace

bool is_network_fault(const std::string& type) {
  return type == "mtu" || type == "loss" || type == "bandwidth";
}

Result<double> parse_share(const std::string& text) {
  std::string v = text;
  bool percent = !v.empty() && v.back() == '%';
  if (percent) v.pop_back();
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0')
    return make_error("bad_share", "'" + text + "' is not a share (try \"20%\" or 0.2)");
  if (percent) x /= 100.0;
  if (!(x > 0 && x < 1))
    return make_error("bad_share", "'" + text + "' must lie strictly between 0% and 100%");
  return x;
}

Result<boost::json::object> toxic_body(const FaultAction& a, const std::string& stream) {
  boost::json::object body;
  boost::json::object attributes;
  // The network faults' emulation: mtu -> mtu_blackhole; loss -> a lost segment's cost, one
  // retransmission timeout (200 ms, Linux's minimum RTO), on every chunk of that share of the
  // connections (toxicity is drawn per connection, as in Toxiproxy); bandwidth -> the bandwidth
  // toxic.
  std::string type = a.type == "mtu"         ? "mtu_blackhole"
                     : a.type == "loss"      ? "latency"
                     : a.type == "bandwidth" ? "bandwidth"
                                             : param(a, "type");
  body["type"] = type;
  body["stream"] = stream;
  body["name"] = type + "_" + stream;
  if (a.type == "loss") {
    auto p = parse_share(param(a, "probability"));
    if (!p) return bad(a, "probability: " + p.error().message);
    body["toxicity"] = *p;
    attributes["latency"] = kLossRetransmitMs;
  }
  if (a.params.count("toxicity")) {
    char* end = nullptr;
    std::string t = param(a, "toxicity");
    double x = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0') return bad(a, "toxicity must be a number from 0 to 1");
    body["toxicity"] = x;
  }
  for (const char* key : {"latency", "jitter", "timeout"}) {
    if (!a.params.count(key) || a.type == "loss") continue;
    auto ms = duration_param(a, key, 1'000'000);
    if (!ms) return ms.error();
    attributes[key] = *ms;
  }
  if (a.params.count("delay")) {
    // slicer waits microseconds between slices; slow_close milliseconds before closing.
    auto d = duration_param(a, "delay", type == "slicer" ? 1'000 : 1'000'000);
    if (!d) return d.error();
    attributes["delay"] = *d;
  }
  for (const char* key : {"average_size", "size_variation", "bytes"}) {
    if (!a.params.count(key)) continue;
    auto n = size_param(a, key, 0, int64_t{1} << 40);
    if (!n) return n.error();
    attributes[key] = *n;
  }
  if (a.params.count("rate")) {  // KB/s
    char* end = nullptr;
    std::string r = param(a, "rate");
    long long kbps = std::strtoll(r.c_str(), &end, 10);
    if (r.empty() || *end != '\0' || kbps < 1)
      return bad(a, "rate must be a whole number of KB/s >= 1");
    attributes["rate"] = kbps;
  }
  if (a.type == "mtu" || a.params.count("mtu")) {
    auto mtu =
        a.params.count("mtu") ? size_param(a, "mtu", 68, 65535) : Result<int64_t>(int64_t{1400});
    if (!mtu) return mtu.error();
    attributes["mtu"] = *mtu;
  }
  body["attributes"] = std::move(attributes);
  // The proxy's own parser has the last word (unknown type, attributes that type lacks, ranges).
  if (auto parsed = parse_toxic(body); !parsed) return bad(a, parsed.error().message);
  return body;
}

Result<void> validate_drill_fault(const Scenario& s, const FaultAction& a) {
  const std::string& type = a.type;
  if (type == "cpu_starve") {
    if (auto share = parse_share(param(a, "share", "20%")); !share)
      return bad(a, "share: " + share.error().message);
    if (a.params.count("period")) {
      auto us = duration_param(a, "period", 1'000);
      if (!us) return us.error();
      if (*us < 1'000 || *us > 1'000'000) return bad(a, "period must be from 1ms to 1s");
    }
    return one_of(a, "mechanism", {"auto", "cgroup", "duty_cycle"});
  }
  if (type == "memory_limit") {
    if (auto limit = size_param(a, "limit", 4 << 20, int64_t{1} << 40); !limit)
      return limit.error();
    return one_of(a, "mechanism", {"auto", "cgroup", "rlimit"});
  }
  if (type == "ballast") {
    if (auto size = size_param(a, "size", 1, int64_t{16} << 30); !size) return size.error();
    if (a.params.count("ramp"))
      if (auto ramp = duration_param(a, "ramp", 1'000'000); !ramp) return ramp.error();
    return {};
  }
  if (type == "toxic" || is_network_fault(type)) {
    // Both modes of the network faults go through the node's proxy: the emulation is a toxic
    // on it, the real mode relays through the namespaces from it.
    if (auto p = needs_proxy(s, a, a.node); !p) return p;
    if (type == "toxic") {
      if (auto r = one_of(a, "stream", {"upstream", "downstream"}); !r) return r;
    } else {
      if (auto r = one_of(a, "stream", {"upstream", "downstream", "both"}); !r) return r;
      if (auto r = one_of(a, "mode", {"auto", "real", "proxy"}); !r) return r;
      if (type == "mtu" && param(a, "mode") == "real" && param(a, "stream", "both") == "both")
        return bad(a,
                   "mode = \"real\" black-holes one direction: stream = \"upstream\" or "
                   "\"downstream\" (\"both\" needs the proxy)");
      if (type == "mtu" && a.params.count("mtu") && param(a, "mode") != "proxy") {
        auto mtu = size_param(a, "mtu", 576, 1499);
        if (!mtu && param(a, "mode") == "real") return mtu.error();
      }
    }
    if (type == "loss") {
      auto p = parse_share(param(a, "probability"));
      if (!p) return bad(a, "probability: " + p.error().message);
    }
    std::string stream = param(a, "stream", type == "toxic" ? "downstream" : "both");
    if (auto body = toxic_body(a, stream == "both" ? "upstream" : stream); !body)
      return body.error();
    return {};
  }
  if (type == "redis_down") {
    if (auto r = one_of(a, "mode", {"kill", "hang", "blackhole"}); !r) return r;
    if (param(a, "mode") == "blackhole") return needs_proxy(s, a, "redis");
    return {};
  }
  if (type == "jwks_rotate") {
    if (auto r = one_of(a, "mode", {"sign_first", "publish_first"}); !r) return r;
    if (a.params.count("delay")) {
      if (param(a, "mode") != "publish_first")
        return bad(a, "delay applies to mode = \"publish_first\" only");
      if (auto d = duration_param(a, "delay", 1'000'000); !d) return d.error();
    }
    return {};
  }
  return {};
}

}  // namespace gatedrill
