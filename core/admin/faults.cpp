#include "core/admin/faults.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>

namespace gatedrill {

namespace {
uint64_t id_number(const std::string& id) {
  return std::stoull(id.substr(1));
}
}  // namespace

FaultRegistry::~FaultRegistry() {
  clear();
}

void FaultRegistry::register_type(std::string type, Apply apply) {
  std::lock_guard lock(mutex_);
  types_[std::move(type)] = std::move(apply);
}

Result<std::string> FaultRegistry::add(const std::string& type, const boost::json::object& params) {
  Apply apply;
  {
    std::lock_guard lock(mutex_);
    auto it = types_.find(type);
    if (it == types_.end()) {
      std::string known;
      for (const auto& [name, unused] : types_) known += (known.empty() ? "" : ", ") + name;
      return make_error("unknown_fault_type", "unknown fault type '" + type + "' (known: " +
                                                  (known.empty() ? "none" : known) + ")");
    }
    apply = it->second;
  }
  // Applied outside the lock: an apply may take time or look at active().
  auto applied = apply(params);
  if (!applied) return applied.error();
  std::lock_guard lock(mutex_);
  std::string id = "f" + std::to_string(next_id_++);
  active_[id] = Active{type, params, time_.wall_ms(), std::move(*applied)};
  return id;
}

Result<void> FaultRegistry::remove(const std::string& id) {
  Clear clear_action;
  {
    std::lock_guard lock(mutex_);
    auto it = active_.find(id);
    if (it == active_.end())
      return make_error("no_such_fault", "no active fault with id '" + id + "'");
    clear_action = std::move(it->second.clear);
    active_.erase(it);
  }
  if (clear_action) clear_action();
  return {};
}

void FaultRegistry::clear() {
  std::map<std::string, Active> removed;
  {
    std::lock_guard lock(mutex_);
    removed.swap(active_);
  }
  // Newest first, so stacked faults unwind in reverse order of application.
  std::vector<std::pair<uint64_t, Clear>> actions;
  for (auto& [id, fault] : removed) actions.emplace_back(id_number(id), std::move(fault.clear));
  std::sort(actions.begin(), actions.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [number, action] : actions) {
    if (action) action();
  }
}

boost::json::value FaultRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<const std::pair<const std::string, Active>*> entries;
  for (const auto& entry : active_) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(),
            [](auto* a, auto* b) { return id_number(a->first) < id_number(b->first); });
  boost::json::array faults;
  for (const auto* entry : entries) {
    boost::json::object fault;
    fault["id"] = entry->first;
    fault["type"] = entry->second.type;
    fault["params"] = entry->second.params;
    fault["since_ms"] = entry->second.since_ms;
    faults.push_back(std::move(fault));
  }
  boost::json::object out;
  out["faults"] = std::move(faults);
  return out;
}

bool FaultRegistry::active(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return std::any_of(active_.begin(), active_.end(),
                     [&](const auto& entry) { return entry.second.type == type; });
}

}  // namespace gatedrill
