#pragma once
// Validation of the CA and policy-registry faults (ca_*, crl_revoke, registry_*,
// policy_publish, break_glass, deregister): the parameters the generic catalog check cannot
// judge (node lists, modes, files next to the scenario).
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

// Before the node check: a CA fault without tls = "mtls", or a registry fault without
// registry = true, gets an error that says which topology key is missing. Errors: "bad_fault".
Result<void> check_pki_peer(const Scenario& scenario, const FaultAction& action);

// After the generic checks. Normalises what the executor reads: "nodes" becomes a sorted,
// comma-separated list of gateway names; policy files are read and their resolved path kept
// in params["path"]. Errors: "bad_fault".
Result<void> validate_pki_fault(const Scenario& scenario, FaultAction& action);

// "gw-1,gw-2" -> {"gw-1", "gw-2"}.
std::vector<std::string> split_nodes(const std::string& list);

// The registry's partial-propagation fault picks stale nodes by a hash of their name and a
// percentage; the percentage that makes exactly `stale` lag among `all`. Errors: "bad_fault"
// when no percentage singles out that set.
Result<int> partial_percent_for(const std::vector<std::string>& all,
                                const std::vector<std::string>& stale);

}  // namespace gatedrill
