#include "ca-sim/trust_distribution.hpp"

namespace gatedrill {

uint64_t TrustDistribution::publish(std::string bundle_pem, std::string crl_pem) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t version = history_.empty() ? 1 : history_.back().version + 1;
  history_.push_back({version, time_.monotonic_ms(), std::move(bundle_pem), std::move(crl_pem)});
  return version;
}

void TrustDistribution::withhold(const std::string& node) {
  std::lock_guard<std::mutex> lock(mutex_);
  Lag& lag = lags_[node];
  // What the node sees now (a delayed node keeps its delayed view).
  const int64_t now = time_.monotonic_ms();
  const View current = latest_at_or_before(now - lag.delay_ms);
  lag.pinned = current.version;  // 0 (nothing published yet): nothing to keep
}

void TrustDistribution::delay(const std::string& node, std::chrono::milliseconds by) {
  std::lock_guard<std::mutex> lock(mutex_);
  lags_[node].delay_ms = by.count();
}

void TrustDistribution::heal(const std::string& node) {
  std::lock_guard<std::mutex> lock(mutex_);
  lags_.erase(node);
}

void TrustDistribution::heal_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  lags_.clear();
}

TrustDistribution::View TrustDistribution::latest_at_or_before(int64_t at_ms) const {
  View view;
  for (const auto& p : history_) {
    // The first version is always delivered: a node that never got a bundle is not a drill.
    if (p.at_ms <= at_ms || view.version == 0) view = View{p.version, p.bundle_pem, p.crl_pem};
  }
  return view;
}

TrustDistribution::View TrustDistribution::view(const std::string& node) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = lags_.find(node);
  if (it == lags_.end()) return latest_at_or_before(time_.monotonic_ms());
  if (it->second.pinned != 0) {
    for (const auto& p : history_) {
      if (p.version == it->second.pinned) return View{p.version, p.bundle_pem, p.crl_pem};
    }
  }
  return latest_at_or_before(time_.monotonic_ms() - it->second.delay_ms);
}

}  // namespace gatedrill
