#pragma once
// Parameters of the drill faults (cpu_starve, memory_limit, ballast, toxic, mtu, redis_down,
// jwks_rotate): checked in the dry run so a bad value is reported before anything starts, and
// turned into the shapes the injectors take (a fault-proxy toxic body, a CPU share).
#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

// Checks the parameters of a drill fault; any other fault type passes. Errors: "bad_fault"
// naming the fault and the parameter ("toxic: latency must be >= 0", "toxic: unknown toxic
// type 'lag'; known: ...", "memory_limit: limit: '64QB': unknown unit").
Result<void> validate_drill_fault(const Scenario& scenario, const FaultAction& action);

// mtu, loss, bandwidth: real in network namespaces or emulated by the node's fault proxy
// (mode = "auto" | "real" | "proxy"; network_faults.hpp carries them out).
bool is_network_fault(const std::string& type);
// The loss emulation delays every chunk of that share of the connections this long: one
// retransmission timeout (a userspace proxy cannot drop segments of a TCP stream).
constexpr int64_t kLossRetransmitMs = 200;

// "20%" or "0.2" -> 0.2; must lie in (0, 1).
Result<double> parse_share(const std::string& text);

// The fault proxy's toxic body {"type","stream","toxicity","attributes"} for a toxic fault, or
// a network fault's emulation on `stream`, durations in the units each toxic takes.
Result<boost::json::object> toxic_body(const FaultAction& action, const std::string& stream);

}  // namespace gatedrill
