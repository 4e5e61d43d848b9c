#pragma once
// Naming a run on the command line: "latest", a run id ("12"), a results database ("base.db":
// its latest run) or both ("base.db:12"). Used by report, compare and gate.
#include <string>

#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

// Loads the summary of the run spec names; a bare id or "latest" is looked up in default_db.
// Errors: "bad_run" (neither an id nor an existing file), "db_open", "no_runs",
// "no_such_run" (naming the database and the ids it holds).
Result<RunSummary> load_run(const std::string& spec, const std::string& default_db);

}  // namespace gatedrill
