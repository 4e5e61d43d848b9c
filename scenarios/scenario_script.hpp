#pragma once
// Loads a Lua scenario, validates it completely before anything starts (unknown keys, wrong
// types, impossible values, unknown nodes and fault parameters: each error names file:line),
// and later replays its timeline callbacks against the real topology.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/util/result.hpp"
#include "scenarios/scenario.hpp"

namespace gatedrill {

class LuaState;

// Receives the faults a timeline callback asks for while the run is live.
class FaultSink {
 public:
  virtual ~FaultSink() = default;
  virtual Result<void> apply(const FaultAction& action) = 0;
};

class ScenarioScript {
 public:
  // params: -e K=V from the command line; a parameter the script never reads is an error (a
  // typo would otherwise silently run the defaults). Errors: "scenario" with file:line.
  static Result<std::unique_ptr<ScenarioScript>> load(const std::string& path,
                                                      std::map<std::string, std::string> params);
  ~ScenarioScript();

  const Scenario& scenario() const;
  // Runs the timeline entry's callback again, for real: its fault calls go to sink.
  Result<void> run_timeline_entry(const TimelineEntry& entry, FaultSink& sink);

  struct Context;  // the state the Lua API functions build (defined in the .cpp)

 private:
  ScenarioScript();
  std::unique_ptr<LuaState> lua_;
  std::unique_ptr<Context> context_;
};

}  // namespace gatedrill
