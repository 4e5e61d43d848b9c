#pragma once
// The fault registry behind every component's /admin/faults. A component registers the fault
// types it understands; each type validates its params and applies the fault, returning the
// action that clears it. Shapes (ARCHITECTURE.md):
//   GET  -> {"faults": [{"id": "f1", "type": "latency", "params": {...}, "since_ms": ...}]}
//   POST {"type": "...", "params": {...}} -> {"id": "f1"}; unknown type or bad params -> 400
//   DELETE /admin/faults/f1, DELETE /admin/faults (all)
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

class FaultRegistry {
 public:
  // Undo action returned by a successful apply; called once when the fault is removed.
  using Clear = std::function<void()>;
  // Validates params and applies the fault. Errors: code "bad_params" with a specific message
  // ("latency_ms must be >= 0").
  using Apply = std::function<Result<Clear>(const boost::json::object& params)>;

  explicit FaultRegistry(const TimeSource& time) : time_(time) {}
  ~FaultRegistry();  // clears every active fault

  void register_type(std::string type, Apply apply);

  // Errors: "unknown_fault_type" (message lists the known types), "bad_params".
  Result<std::string> add(const std::string& type, const boost::json::object& params);
  // Errors: "no_such_fault".
  Result<void> remove(const std::string& id);
  void clear();

  boost::json::value list() const;  // {"faults": [...]}
  bool active(const std::string& type) const;

 private:
  struct Active {
    std::string type;
    boost::json::object params;
    int64_t since_ms;
    Clear clear;
  };
  const TimeSource& time_;
  mutable std::mutex mutex_;
  std::map<std::string, Apply> types_;
  std::map<std::string, Active> active_;
  uint64_t next_id_ = 1;
};

}  // namespace gatedrill
