#include "gateway/authz/decision_cache.hpp"

#include <utility>

namespace gatedrill::gateway {

CachingAuthorizer::CachingAuthorizer(std::shared_ptr<const Authorizer> inner,
                                     const TimeSource& time, std::chrono::milliseconds ttl,
                                     size_t capacity)
    : inner_(std::move(inner)), time_(time), ttl_(ttl), capacity_(capacity) {}

AuthzDecision CachingAuthorizer::check(const AuthzRequest& request) const {
  std::string key;
  key.reserve(request.authorization.size() + request.spiffe_id.size() + request.method.size() +
              request.path.size() + request.route.size() + 5);
  for (std::string_view part :
       {request.authorization, request.spiffe_id, request.method, request.path, request.route}) {
    key.append(part);
    key.push_back('\n');
  }
  const SharedString version = inner_->version();
  const int64_t now = time_.monotonic_ns();
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.version == version && now < it->second.expires_ns) {
        ++hits_;
        return AuthzDecision{true, "allowed", "cached decision", version};
      }
      entries_.erase(it);  // expired, or made under another policy version
    }
    ++misses_;
  }
  AuthzDecision decision = inner_->check(request);
  if (decision.allowed) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity_) entries_.clear();  // bounded; refills from live traffic
    entries_[std::move(key)] =
        Entry{now + std::chrono::duration_cast<std::chrono::nanoseconds>(ttl_).count(),
              decision.policy_version};
  }
  return decision;
}

uint64_t CachingAuthorizer::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

uint64_t CachingAuthorizer::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace gatedrill::gateway
