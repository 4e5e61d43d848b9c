#pragma once
// The reports CLI: `gatedrill report`, `gatedrill compare`, `gatedrill gate`.
#include <string>
#include <vector>

#include "core/util/result.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

// `gatedrill report ...`: argv[0] is "report". Returns the process exit code.
int report_command(int argc, char** argv);
// `gatedrill compare BASE CAND ...`: 0, 1 error, 2 usage.
int compare_command(int argc, char** argv);
// `gatedrill gate --baseline R --candidate R ...`: 0 pass, 99 regression, 1 error, 2 usage.
int gate_command(int argc, char** argv);

// Writes report.html and junit.xml into dir (the run folder); returns their paths.
// Errors: "write_failed" naming the file.
Result<std::vector<std::string>> write_run_reports(const RunSummary& summary,
                                                   const std::string& dir);

}  // namespace gatedrill
