#include "gateway/authz/registry_authorizer.hpp"

#include <utility>

#include "gateway/policy/bundle_poller.hpp"

namespace gatedrill::gateway {

RegistryAuthorizer::RegistryAuthorizer(const BundlePoller& poller, std::string query)
    : poller_(poller), query_(std::move(query)) {}

namespace {

const SharedString& no_policy_version() {
  static const SharedString kNone("none");
  return kNone;
}

}  // namespace

SharedString RegistryAuthorizer::version() const {
  auto engine = poller_.engine();
  return engine ? engine->shared_version() : no_policy_version();
}

std::shared_ptr<const RegoAuthorizer> RegistryAuthorizer::authorizer_for(
    std::shared_ptr<const PolicyEngine> engine) const {
  std::lock_guard lock(mutex_);
  if (engine != engine_) {
    authorizer_ = std::make_shared<const RegoAuthorizer>(engine, query_);
    engine_ = std::move(engine);
  }
  return authorizer_;
}

AuthzDecision RegistryAuthorizer::check(const AuthzRequest& request) const {
  auto engine = poller_.engine();
  if (!engine) {
    AuthzDecision d;
    d.reason = "no_policy";
    d.message = "no policy bundle has been received from the registry yet";
    d.policy_version = no_policy_version();
    d.status = 503;
    return d;
  }
  // The engine is immutable and kept alive by the authorizer even if a new one is swapped in.
  return authorizer_for(std::move(engine))->check(request);
}

}  // namespace gatedrill::gateway
