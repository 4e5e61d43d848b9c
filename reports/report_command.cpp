#include "reports/report_command.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/util/cli.hpp"
#include "reports/run_summary.hpp"

namespace gatedrill {

int report_command(int argc, char** argv) {
  std::string db = "results.db", run = "latest";
  bool list = false;
  ArgParser args("report", "Prints a run's summary: per phase RPS, latency percentiles and errors by\nstatus; fault events; thresholds with what was observed.");
  args.positional("RUN", &run, "run id, or latest (default)", false);
  args.option("db", &db, "results database (default results.db)");
  args.flag("list", &list, "list the runs in the database instead");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;

  auto reader = ResultsReader::open(db);
  if (!reader) {
    std::fprintf(stderr, "error: %s\n", reader.error().message.c_str());
    return 1;
  }
  auto runs = (*reader)->runs();
  if (!runs) {
    std::fprintf(stderr, "error: %s\n", runs.error().message.c_str());
    return 1;
  }
  if (list) {
    std::printf("%6s  %-24s %-8s %s\n", "run", "name", "verdict", "scenario");
    for (const auto& r : *runs)
      std::printf("%6lld  %-24s %-8s %s\n", static_cast<long long>(r.id), r.name.c_str(), r.verdict.c_str(), r.scenario.c_str());
    return 0;
  }
  if (runs->empty()) {
    std::fprintf(stderr, "error: %s holds no runs yet\n", db.c_str());
    return 1;
  }
  int64_t run_id = runs->front().id;
  if (run != "latest") {
    char* end = nullptr;
    run_id = std::strtoll(run.c_str(), &end, 10);
    if (run.empty() || *end != '\0' || run_id <= 0) {
      std::fprintf(stderr, "error: RUN must be a run id or latest, got '%s'\n", run.c_str());
      return 2;
    }
  }
  auto summary = summarize_run(**reader, run_id);
  if (!summary) {
    std::fprintf(stderr, "error: run %lld: %s\n", static_cast<long long>(run_id), summary.error().message.c_str());
    return 1;
  }
  std::fputs(format_run_summary(*summary).c_str(), stdout);
  return 0;
}

}  // namespace gatedrill
