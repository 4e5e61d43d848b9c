#include "scenarios/decision_log.hpp"

#include <algorithm>
#include <fstream>

#include "core/util/json.hpp"

namespace gatedrill {

std::map<int64_t, DecisionSecond> read_decision_log(const std::string& path, int64_t load_start_ms,
                                                    const std::string& identity,
                                                    const std::vector<std::string>& exclude) {
  std::map<int64_t, DecisionSecond> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto doc = parse_json_object(line);
    if (!doc) continue;  // a line cut by rotation or a crash
    auto time_ms = json_int(*doc, "time_ms");
    auto status = json_int(*doc, "status");
    auto who = json_string(*doc, "identity");
    auto version = json_string(*doc, "policy_version");
    if (!time_ms || !status || !who || !time_ms->has_value() || !status->has_value()) continue;
    std::string id = who->value_or("");
    if (!identity.empty() ? id != identity
                          : std::find(exclude.begin(), exclude.end(), id) != exclude.end())
      continue;
    int64_t ms = **time_ms - load_start_ms;
    if (ms < 0) continue;
    DecisionSecond& s = out[ms / 1000];
    ++s.decisions;
    if (**status == 403) {
      ++s.denied;
      if (version && version->has_value() && !(*version)->empty()) ++s.denied_versioned;
    }
  }
  return out;
}

}  // namespace gatedrill
