#include "ca-sim/rotation.hpp"

namespace gatedrill {

bool SvidRotation::past_half_life(const IssuedCert& cert, int64_t now_s) {
  return now_s >= cert.not_before_s + (cert.not_after_s - cert.not_before_s) / 2;
}

Result<IssuedCert> SvidRotation::current(const std::string& spiffe_id,
                                         const std::vector<std::string>& ip_addresses) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = svids_.find(spiffe_id);
  const bool rotate =
      it != svids_.end() && !stopped_ && past_half_life(it->second, time_.wall_seconds());
  if (it != svids_.end() && !rotate) return it->second;
  auto issued = pki_.issue_svid(spiffe_id, ttl_, ip_addresses);
  if (!issued) return issued.error();
  if (rotate) ++rotations_;
  svids_[spiffe_id] = *issued;
  return *issued;
}

void SvidRotation::set_stopped(bool stopped) {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = stopped;
}

bool SvidRotation::stopped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopped_;
}

int SvidRotation::rotations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rotations_;
}

}  // namespace gatedrill
