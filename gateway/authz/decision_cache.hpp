#pragma once
// A decision cache for authorized sessions (seed 003): allow decisions are remembered for a TTL
// per (credential, SPIFFE ID, method, path, route), and forgotten as soon as the policy version
// changes. Only allows are cached, so a deny is always re-evaluated. Opt-in: a policy that reads
// other request headers must not be cached this way.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/time/time_source.hpp"
#include "gateway/authz/authorizer.hpp"

namespace gatedrill::gateway {

class CachingAuthorizer final : public Authorizer {
 public:
  CachingAuthorizer(std::shared_ptr<const Authorizer> inner, const TimeSource& time,
                    std::chrono::milliseconds ttl, size_t capacity = 100000);

  AuthzDecision check(const AuthzRequest& request) const override;
  SharedString version() const override { return inner_->version(); }
  bool reads_headers() const override { return inner_->reads_headers(); }

  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Entry {
    int64_t expires_ns;
    SharedString version;
  };
  std::shared_ptr<const Authorizer> inner_;
  const TimeSource& time_;
  const std::chrono::milliseconds ttl_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, Entry> entries_;
  mutable uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace gatedrill::gateway
