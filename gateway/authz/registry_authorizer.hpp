#pragma once
// Authz with the policy bundle the registry publishes (seed 003): the BundlePoller fetches and
// compiles each new revision off the request path and swaps it in (compile-then-swap, so a bad
// bundle never replaces a good one); each check uses the engine current at that moment. While
// the registry is offline the last good bundle keeps deciding; a node that never got a bundle
// fails closed: 503 `no_policy`.
#include <memory>
#include <mutex>
#include <string>

#include "gateway/authz/authorizer.hpp"

namespace gatedrill {
class BundlePoller;
}

namespace gatedrill::gateway {

class RegistryAuthorizer final : public Authorizer {
 public:
  RegistryAuthorizer(const BundlePoller& poller, std::string query);
  AuthzDecision check(const AuthzRequest& request) const override;
  // The enforced engine's version ("none" before the first bundle): a change invalidates the
  // decision cache.
  SharedString version() const override;

 private:
  // The authorizer of `engine`, its query resolved once per policy version.
  std::shared_ptr<const RegoAuthorizer> authorizer_for(
      std::shared_ptr<const PolicyEngine> engine) const;

  const BundlePoller& poller_;
  std::string query_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const PolicyEngine> engine_;  // the one authorizer_ was made for
  mutable std::shared_ptr<const RegoAuthorizer> authorizer_;
};

}  // namespace gatedrill::gateway
