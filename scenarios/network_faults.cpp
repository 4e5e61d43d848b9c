#include "scenarios/network_faults.hpp"

#include <utility>

#include "core/util/strings.hpp"
#include "scenarios/drill_faults.hpp"
#include "scenarios/faults/fault_network.hpp"

namespace gatedrill {

namespace {

// Inside each node's own namespaces, so one port serves every node.
constexpr const char* kRelayPort = "7000";

std::string param(const FaultAction& a, const char* key, const std::string& fallback) {
  auto it = a.params.find(key);
  return it == a.params.end() ? fallback : it->second;
}

std::vector<Stream> streams_of(const FaultAction& a) {
  const std::string s = param(a, "stream", "both");
  if (s == "upstream") return {Stream::kUpstream};
  if (s == "downstream") return {Stream::kDownstream};
  return {Stream::kUpstream, Stream::kDownstream};
}

// Runs set(stream, value) for each stream; the clear sets them back to 0. On a failure what was
// already set is undone.
Result<FaultClear> impair(const std::vector<Stream>& streams,
                          const std::function<Result<void>(Stream, bool on)>& set) {
  std::vector<Stream> done;
  for (Stream s : streams) {
    if (auto r = set(s, true); !r) {
      for (Stream d : done) (void)set(d, false);
      return r.error();
    }
    done.push_back(s);
  }
  return FaultClear([set, done]() -> Result<void> {
    Result<void> first;
    for (Stream s : done)
      if (auto r = set(s, false); !r && first.ok()) first = r;
    return first;
  });
}

Result<FaultClear> carry_out_real(const FaultAction& a, FaultNetwork* net) {
  const auto streams = streams_of(a);
  if (a.type == "mtu") {
    auto mtu = parse_size(param(a, "mtu", "1400"));
    if (!mtu) return mtu.error();
    const int value = static_cast<int>(*mtu);
    return impair(streams,
                  [net, value](Stream s, bool on) { return net->set_mtu(s, on ? value : 0); });
  }
  if (a.type == "loss") {
    auto p = parse_share(param(a, "probability", ""));
    if (!p) return p.error();
    const double value = *p;
    return impair(streams,
                  [net, value](Stream s, bool on) { return net->set_loss(s, on ? value : 0); });
  }
  // bandwidth: KB/s as the bandwidth toxic counts them (1024 bytes).
  const int64_t bytes = std::stoll(param(a, "rate", "1")) * 1024;
  return impair(streams,
                [net, bytes](Stream s, bool on) { return net->set_rate(s, on ? bytes : 0); });
}

std::string emulation_of(const std::string& type) {
  if (type == "mtu") return "mtu_blackhole toxic";
  if (type == "loss")
    return "latency toxic: " + std::to_string(kLossRetransmitMs) +
           " ms (one retransmission timeout) on every chunk of that share of the connections";
  return "bandwidth toxic";
}

}  // namespace

FaultNetworks::FaultNetworks() = default;
FaultNetworks::~FaultNetworks() = default;

std::string real_unavailable_reason(const FaultAction& a) {
  if (a.type == "mtu") {
    if (param(a, "stream", "both") == "both")
      return "the namespace path black-holes one direction at a time (stream both)";
    auto mtu = parse_size(param(a, "mtu", "1400"));
    if (!mtu || *mtu < 576 || *mtu > 1499)
      return "the namespace links take an mtu from 576 to 1499";
    return FaultNetwork::unavailable_reason();
  }
  if (a.type == "loss") return FaultNetwork::loss_unavailable_reason();
  return FaultNetwork::rate_unavailable_reason();
}

Result<void> FaultNetworks::prepare(const Scenario& scenario) {
  std::map<std::string, bool> wanted;  // node -> some fault forces mode = "real"
  for (const auto& entry : scenario.timeline) {
    for (const auto& a : entry.actions) {
      if (!is_network_fault(a.type)) continue;
      const std::string mode = param(a, "mode", "auto");
      if (mode == "proxy") continue;
      if (auto reason = real_unavailable_reason(a); !reason.empty()) {
        if (mode == "real")
          return make_error("bad_fault", a.type + " on " + a.node + " (" + a.where +
                                             "): mode = \"real\" is not possible here: " + reason);
        continue;
      }
      wanted[a.node] = wanted[a.node] || mode == "real";
    }
  }
  for (const auto& [node, forced] : wanted) {
    auto net = FaultNetwork::create();
    if (!net) {
      if (forced)
        return make_error("bad_fault", "mode = \"real\" on " + node +
                                           ": cannot build its network: " + net.error().message);
      unavailable_[node] = net.error().message;
      continue;
    }
    networks_[node] = std::move(*net);
  }
  return {};
}

FaultNetwork* FaultNetworks::find(const std::string& node) const {
  auto it = networks_.find(node);
  return it == networks_.end() ? nullptr : it->second.get();
}

std::string FaultNetworks::unavailable(const std::string& node) const {
  auto it = unavailable_.find(node);
  return it == unavailable_.end() ? "" : it->second;
}

std::vector<std::string> FaultNetworks::proxy_flags(const std::string& node,
                                                    const std::string& listen,
                                                    const std::string& upstream) const {
  const FaultNetwork* net = find(node);
  if (!net) return {node + "=" + listen + "=" + upstream};
  const std::string inside = std::string(FaultNetwork::server_address()) + ":" + kRelayPort;
  return {node + "=" + listen + "=" + inside + "@" + net->client_ns(),
          node + ".netns=" + inside + "@" + net->server_ns() + "=" + upstream};
}

Result<FaultClear> carry_out_network_fault(const FaultAction& a, const FaultNetworks* networks,
                                           const AddToxic& add_toxic,
                                           std::map<std::string, std::string>& detail) {
  const std::string mode = param(a, "mode", "auto");
  std::string why_not = mode == "proxy" ? "mode = proxy" : real_unavailable_reason(a);
  FaultNetwork* net = networks ? networks->find(a.node) : nullptr;
  if (why_not.empty() && !net) {
    why_not = networks ? networks->unavailable(a.node) : "";
    if (why_not.empty()) why_not = "no network namespaces were prepared for " + a.node;
  }
  if (why_not.empty()) {
    detail["mechanism"] = "netns";
    detail["namespaces"] = net->client_ns() + " " + net->router_ns() + " " + net->server_ns();
    return carry_out_real(a, net);
  }
  if (mode == "real")
    return make_error("bad_fault", a.type + " on " + a.node + ": mode = real: " + why_not);
  detail["mechanism"] = "proxy";
  detail["emulation"] = emulation_of(a.type);
  detail["fallback_reason"] = why_not;
  std::vector<FaultClear> clears;
  for (Stream s : streams_of(a)) {
    auto clear = add_toxic(s == Stream::kUpstream ? "upstream" : "downstream");
    if (!clear) {
      for (auto& c : clears) (void)c();
      return clear.error();
    }
    clears.push_back(std::move(*clear));
  }
  return FaultClear([clears = std::move(clears)]() -> Result<void> {
    Result<void> first;
    for (const auto& c : clears)
      if (auto r = c(); !r && first.ok()) first = r;
    return first;
  });
}

}  // namespace gatedrill
