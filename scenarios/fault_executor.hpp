#pragma once
// Carries out a scenario's fault calls against the live topology (admin APIs, signals through
// the supervisor), clears each one when its duration ends, and reports every fault window so
// the results store and reports can shade it.
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/supervisor/supervisor.hpp"
#include "core/time/time_source.hpp"
#include "scenarios/gateway_reasons.hpp"
#include "scenarios/scenario_script.hpp"
#include "scenarios/topology.hpp"

namespace gatedrill {

class FaultNetworks;
class TrustAgent;

struct FaultWindow {
  std::string type;
  std::string node;
  std::string detail_json;  // the parameters as given
  int64_t start_ms = 0;     // wall clock
  int64_t end_ms = 0;       // 0 while active
  // What each gateway answered over the window, by reason (from its /metrics; filled by the
  // runner, empty when they could not be read).
  std::map<std::string, ReasonCounts> reasons;
};

class FaultExecutor final : public FaultSink {
 public:
  FaultExecutor(const Endpoints& endpoints, Supervisor& supervisor, TimeSource& time);

  // FaultSink: applies one fault now. Errors: the admin API's or the supervisor's message.
  Result<void> apply(const FaultAction& action) override;
  // Clears faults whose duration has passed; call often (every ~50 ms) from the timeline loop.
  void clear_expired();
  // Clears everything still active (end of run, Ctrl-C).
  void clear_all();

  // Called when a window opens (end_ms == 0) and again when it closes.
  void on_window(std::function<void(const FaultWindow&)> listener) {
    listener_ = std::move(listener);
  }
  std::vector<FaultWindow> windows() const;
  // The topology's trust/registration agent, for deregister (pki_faults.cpp).
  void set_trust_agent(TrustAgent* agent) { trust_agent_ = agent; }
  // The topology's redis peer, for redis_down (kill restarts it when the window ends).
  void set_redis(RedisServer* redis) { redis_ = redis; }
  // The topology's network namespaces, for mtu, loss and bandwidth in real mode.
  void set_networks(const FaultNetworks* networks) { networks_ = networks; }

 private:
  struct Active {
    size_t window;        // index into windows_
    int64_t clear_at_ms;  // monotonic; 0 = at the end of the run
    std::function<Result<void>()> clear;
  };
  Result<std::function<Result<void>()>> carry_out(const FaultAction& action,
                                                  const NodeEndpoint& node);
  // The CA and registry faults (pki_faults.cpp); nullopt for any other type.
  std::optional<Result<std::function<Result<void>()>>> carry_out_pki(const FaultAction& action);
  // The drill faults (cpu_starve, memory_limit, ballast, toxic, mtu, loss, bandwidth,
  // redis_down, jwks_rotate);
  // nullopt for any other type.
  std::optional<Result<std::function<Result<void>()>>> carry_out_drill(const FaultAction& action,
                                                                       const NodeEndpoint& node);
  void close(Active& active);

  const Endpoints& endpoints_;
  Supervisor& supervisor_;
  TimeSource& time_;
  mutable std::mutex mutex_;
  std::vector<FaultWindow> windows_;
  std::vector<Active> active_;
  std::function<void(const FaultWindow&)> listener_;
  TrustAgent* trust_agent_ = nullptr;
  RedisServer* redis_ = nullptr;
  const FaultNetworks* networks_ = nullptr;
  // Filled by carry_out for the window's detail: which mechanism a fault used.
  std::map<std::string, std::string> mechanism_detail_;
};

}  // namespace gatedrill
