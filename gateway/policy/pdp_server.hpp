#pragma once
// A policy decision point speaking OPA's Data API, so the gateway (or a real Envoy, or a
// script) can ask a remote PDP exactly as it would ask OPA:
//   POST /v1/data/{path}  {"input": ...} -> {"result": ..., "decision_id": "..."} (no "result"
//                         when the decision is undefined, as OPA)
//   GET  /v1/data/{path}  the same without input
//   GET  /health          {} once policies are loaded
// Every decision can be appended as one JSON line to a decision log.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

class TimeSource;

struct PdpOptions {
  std::vector<std::string> policy_paths;  // .rego/.json files or directories
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  int threads = 2;
  const TimeSource* time = nullptr;     // required: time.now_ns and log timestamps
  std::chrono::nanoseconds timeout{0};  // per decision; 0: none
  std::string decision_log;             // file path; empty: no log
};

class PdpServer {
 public:
  // Loads the policies and listens. Errors: those of PolicyEngine::load, "bind_failed", "io_error".
  static Result<std::unique_ptr<PdpServer>> start(PdpOptions options);
  ~PdpServer();
  uint16_t port() const;
  const std::string& policy_version() const;
  void stop();

 private:
  struct Impl;
  explicit PdpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `gatedrill pdp --policy DIR --port N`
int pdp_command(int argc, char** argv);

}  // namespace gatedrill
