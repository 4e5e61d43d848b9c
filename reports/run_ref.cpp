#include "reports/run_ref.hpp"

#include <sys/stat.h>

#include <cstdlib>

namespace gatedrill {

namespace {

bool parse_id(const std::string& text, int64_t& id) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  id = std::strtoll(text.c_str(), nullptr, 10);
  return id > 0;
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Result<RunSummary> load_run(const std::string& spec, const std::string& default_db) {
  std::string db = default_db, run = spec;
  int64_t id = 0;
  if (spec != "latest" && !parse_id(spec, id)) {
    auto colon = spec.rfind(':');
    if (is_file(spec)) {
      db = spec;
      run = "latest";
    } else if (colon != std::string::npos && colon > 0 && is_file(spec.substr(0, colon))) {
      db = spec.substr(0, colon);
      run = spec.substr(colon + 1);
      if (run != "latest" && !parse_id(run, id))
        return make_error("bad_run", "'" + run + "' in '" + spec + "' is not a run id or latest");
    } else {
      return make_error("bad_run",
                        "'" + spec + "' is not a run id, latest, a results database or DB:ID");
    }
  }
  auto reader = ResultsReader::open(db);
  if (!reader) return make_error(reader.error().code, db + ": " + reader.error().message);
  auto runs = (*reader)->runs();
  if (!runs) return make_error(runs.error().code, db + ": " + runs.error().message);
  if (runs->empty()) return make_error("no_runs", db + " holds no runs yet");
  if (run == "latest") id = runs->front().id;
  bool known = false;
  for (const auto& r : *runs) known = known || r.id == id;
  if (!known)
    return make_error("no_such_run", "run " + std::to_string(id) + " is not in " + db +
                                         " (it holds runs " + std::to_string(runs->back().id) +
                                         ".." + std::to_string(runs->front().id) + ")");
  auto summary = summarize_run(**reader, id);
  if (!summary)
    return make_error(summary.error().code,
                      db + ": run " + std::to_string(id) + ": " + summary.error().message);
  return summary;
}

}  // namespace gatedrill
