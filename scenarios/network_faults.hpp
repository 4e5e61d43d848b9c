#pragma once
// The network faults (mtu, loss, bandwidth) in a scenario. Where the machine allows (root, the
// ip/iptables/tc commands) each proxied node that has one gets a FaultNetwork at start, and its
// fault proxy relays through the namespaces: load -> proxy (host) -> client ns -> router ns ->
// server ns -> proxy -> node. The fault then impairs the router; elsewhere the proxy emulates
// it with a toxic. mode = "auto" picks, "real" / "proxy" force one; the fault window's detail
// records which ran and why.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/process_fault_actions.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

class FaultNetwork;

class FaultNetworks {
 public:
  FaultNetworks();
  ~FaultNetworks();  // deletes every namespace
  FaultNetworks(const FaultNetworks&) = delete;
  FaultNetworks& operator=(const FaultNetworks&) = delete;

  // Reads the timeline's network faults and creates the networks they may use. Errors:
  // "bad_fault" when one forces mode = "real" and the machine cannot (naming why).
  Result<void> prepare(const Scenario& scenario);
  // nullptr when the node has no network (no real fault wanted, or it could not be created).
  FaultNetwork* find(const std::string& node) const;
  // Why the node has no network ("" when it has one or none was wanted).
  std::string unavailable(const std::string& node) const;
  // The fault proxy's --proxy values for a proxied node: listen -> upstream directly, or
  // through the node's namespaces.
  std::vector<std::string> proxy_flags(const std::string& node, const std::string& listen,
                                       const std::string& upstream) const;

 private:
  std::map<std::string, std::unique_ptr<FaultNetwork>> networks_;
  std::map<std::string, std::string> unavailable_;
};

// Why `action` (mtu, loss, bandwidth) cannot run for real on this machine, whatever its mode
// ("" = it can).
std::string real_unavailable_reason(const FaultAction& action);

// Carries out a network fault: in the node's FaultNetwork when the mode allows and it exists,
// else as add_toxic(stream) on the node's proxy for each stream. Fills detail with
// "mechanism" (netns | proxy) and "namespaces", or "emulation" and "fallback_reason".
using AddToxic = std::function<Result<FaultClear>(const std::string& stream)>;
Result<FaultClear> carry_out_network_fault(const FaultAction& action, const FaultNetworks* networks,
                                           const AddToxic& add_toxic,
                                           std::map<std::string, std::string>& detail);

}  // namespace gatedrill
