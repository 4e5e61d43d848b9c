#include "scenarios/run_command.hpp"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string_view>

#include "core/store/results_store.hpp"
#include "core/util/cli.hpp"
#include "reports/report_command.hpp"
#include "scenarios/runner.hpp"

namespace gatedrill {

std::string self_executable() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string("gatedrill");
}

// -e K=V pairs into the params map; false with a message on a malformed one.
bool parse_params(const std::vector<std::string>& pairs, std::map<std::string, std::string>& out) {
  for (const auto& pair : pairs) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "error: -e/--env takes NAME=VALUE, got '%s'\n", pair.c_str());
      return false;
    }
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return true;
}

void accept_short_env_flag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "-e") argv[i] = const_cast<char*>("--env");
}

void write_reports_of_latest_run(const RunOptions& options, int64_t began_ms) {
  auto reader = ResultsReader::open(options.db_path);
  if (!reader) return;
  auto runs = (*reader)->runs();
  if (!runs || runs->empty()) return;
  const RunRecord& run = runs->front();
  if (run.started_ms < began_ms || run.scenario != options.scenario_file || run.run_dir.empty())
    return;
  auto summary = summarize_run(**reader, run.id);
  if (!summary) return;
  if (auto written = write_run_reports(*summary, run.run_dir); !written)
    std::fprintf(stderr, "warning: %s\n", written.error().message.c_str());
  else
    std::printf("report: %s\njunit: %s\n", (*written)[0].c_str(), (*written)[1].c_str());
}

int run_command(int argc, char** argv) {
  RunOptions options;
  std::vector<std::string> params;
  bool quiet = false;
  ArgParser args(
      "run",
      "Runs a scenario: starts its topology, drives the load, injects the faults of its\n"
      "timeline, records every second in the results database and judges its thresholds.\n"
      "Exit status: 0 pass, 99 a threshold or expectation failed, 1 error, 2 usage.");
  args.positional("SCENARIO.lua", &options.scenario_file, "the scenario file");
  args.option("db", &options.db_path, "results database (default results.db)");
  args.option("runs-dir", &options.runs_dir,
              "where run folders (logs, endpoints, PKI) go (default runs)");
  args.repeated("env", &params,
                "NAME=VALUE parameter read by param(\"NAME\", default); repeatable");
  args.flag("check", &options.validate_only, "validate the scenario and exit; start nothing");
  args.flag("quiet", &quiet, "no live status line");
  accept_short_env_flag(argc, argv);
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (!parse_params(params, options.params)) return 2;
  options.status_line = !quiet;
  options.binary = self_executable();

  TerminationSignals signals;
  SystemTimeSource time;
  int64_t began_ms = time.wall_ms();
  int exit_code = run_scenario(options, time, signals);
  if (!options.validate_only) write_reports_of_latest_run(options, began_ms);
  return exit_code;
}

int up_command(int argc, char** argv) {
  RunOptions options;
  options.scenario_file = "scenarios/quickstart.lua";
  std::string endpoints_out;
  std::vector<std::string> params;
  ArgParser args(
      "up",
      "Starts a scenario's topology (gateways, IdP, upstream) with no load and keeps it up\n"
      "until Ctrl-C, for hands-on drills with curl, the loadgen or a browser.");
  args.positional("SCENARIO.lua", &options.scenario_file,
                  "topology to start (default scenarios/quickstart.lua)", false);
  args.option("endpoints-out", &endpoints_out,
              "write every URL, admin URL, CA bundle and credential as JSON here");
  args.option("db", &options.db_path, "results database (default results.db)");
  args.option("runs-dir", &options.runs_dir, "where the run folder goes (default runs)");
  args.repeated("env", &params, "NAME=VALUE scenario parameter; repeatable");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (!parse_params(params, options.params)) return 2;
  options.binary = self_executable();

  TerminationSignals signals;
  SystemTimeSource time;
  return run_topology(options, endpoints_out, time, signals);
}

}  // namespace gatedrill
