#pragma once
// What each node of the run has been given: the CA publishes trust bundle + CRL versions, and
// every node normally sees the latest. Desync faults make some nodes lag: withhold (a node
// keeps the version it had) or delay (a node sees versions only after a while), as when a
// distribution agent is down or slow.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/time/time_source.hpp"

namespace gatedrill {

class TrustDistribution {
 public:
  explicit TrustDistribution(const TimeSource& time) : time_(time) {}

  struct View {
    uint64_t version = 0;  // 0: nothing published yet
    std::string bundle_pem;
    std::string crl_pem;
  };

  // A new version for every node (subject to the faults below).
  uint64_t publish(std::string bundle_pem, std::string crl_pem);
  // The node keeps what it sees now until heal().
  void withhold(const std::string& node);
  // The node sees a version only `by` after it was published, until heal().
  void delay(const std::string& node, std::chrono::milliseconds by);
  void heal(const std::string& node);
  void heal_all();

  View view(const std::string& node) const;

 private:
  struct Published {
    uint64_t version;
    int64_t at_ms;  // monotonic
    std::string bundle_pem, crl_pem;
  };
  struct Lag {
    uint64_t pinned = 0;  // withheld at this version (0: not withheld)
    int64_t delay_ms = 0;
  };
  View latest_at_or_before(int64_t at_ms) const;

  const TimeSource& time_;
  mutable std::mutex mutex_;
  std::vector<Published> history_;
  std::map<std::string, Lag> lags_;
};

}  // namespace gatedrill
