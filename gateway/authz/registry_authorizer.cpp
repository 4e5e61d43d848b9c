#include "gateway/authz/registry_authorizer.hpp"

#include <utility>

#include "gateway/policy/bundle_poller.hpp"

namespace gatedrill::gateway {

RegistryAuthorizer::RegistryAuthorizer(const BundlePoller& poller, std::string query)
    : poller_(poller), query_(std::move(query)) {}

std::string RegistryAuthorizer::version() const {
  auto engine = poller_.engine();
  return engine ? engine->version() : "none";
}

AuthzDecision RegistryAuthorizer::check(const AuthzRequest& request) const {
  auto engine = poller_.engine();
  if (!engine) {
    AuthzDecision d;
    d.reason = "no_policy";
    d.message = "no policy bundle has been received from the registry yet";
    d.policy_version = "none";
    d.status = 503;
    return d;
  }
  // The engine is immutable and kept alive by this reference even if a new one is swapped in.
  return RegoAuthorizer(std::move(engine), query_).check(request);
}

}  // namespace gatedrill::gateway
