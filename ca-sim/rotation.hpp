#pragma once
// SVIDs of registered workloads, rotated at half-life like a SPIFFE agent does: a workload
// asking for its SVID after half of its lifetime gets a fresh one. The stop_rotation fault
// stops that, so SVIDs run to expiry (the seeds' "expired SVID" drill).
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "ca-sim/pki.hpp"

namespace gatedrill {

class SvidRotation {
 public:
  SvidRotation(Pki& pki, const TimeSource& time, std::chrono::seconds ttl)
      : pki_(pki), time_(time), ttl_(ttl) {}

  // The workload's current SVID: issued on first use, re-issued once past half-life unless
  // rotation is stopped. ip_addresses: IP SANs of a serving SVID (fixed per workload by its
  // first call). Errors: Pki::issue_svid's.
  Result<IssuedCert> current(const std::string& spiffe_id,
                             const std::vector<std::string>& ip_addresses = {});
  void set_stopped(bool stopped);
  bool stopped() const;
  int rotations() const;

  // At or past the midpoint of the validity period.
  static bool past_half_life(const IssuedCert& cert, int64_t now_s);

 private:
  Pki& pki_;
  const TimeSource& time_;
  std::chrono::seconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, IssuedCert> svids_;
  bool stopped_ = false;
  int rotations_ = 0;
};

}  // namespace gatedrill
