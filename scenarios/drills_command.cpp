#include "scenarios/drills_command.hpp"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "core/store/results_store.hpp"
#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "scenarios/run_command.hpp"
#include "scenarios/runner.hpp"
#include "scenarios/scenario_script.hpp"

#ifndef GATEDRILL_DRILLS_DIR
#define GATEDRILL_DRILLS_DIR "scenarios/drills"
#endif

namespace gatedrill {

namespace {

constexpr std::string_view kLuaSuffix = ".lua";

bool is_drill_file(const std::string& name) {
  return name.size() > kLuaSuffix.size() && name[0] != '.' &&
         name.compare(name.size() - kLuaSuffix.size(), kLuaSuffix.size(), kLuaSuffix) == 0;
}

Result<std::vector<std::string>> drill_names(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d)
    return make_error("drills_dir",
                      "cannot read the drills folder " + dir + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* entry = readdir(d)) {
    std::string file = entry->d_name;
    if (is_drill_file(file)) names.push_back(file.substr(0, file.size() - kLuaSuffix.size()));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// What one drill run showed, read back from the results database.
struct DrillResult {
  std::string name;
  int exit_code = kExitError;
  std::string verdict;
  std::string symptom = "-";   // the during(...) expectations
  std::string recovery = "-";  // the after(...) expectations
  bool interrupted = false;
};

std::string verdict_of(int exit_code) {
  if (exit_code == kExitPass) return "pass";
  if (exit_code == kExitThresholdFailed) return "FAIL";
  return "error";
}

// The newest run of `file` in the database: its during/after outcomes become the symptom and
// recovery columns ("seen 98.7%", "NOT seen 0.0%", "0s", "never recovered ...").
// after_run_id: the newest run before this one (a drill that failed to load stores no run).
void read_outcomes(const std::string& db, const std::string& file, int64_t after_run_id,
                   DrillResult& result) {
  auto reader = ResultsReader::open(db);
  if (!reader) return;
  auto runs = (*reader)->runs();
  if (!runs) return;
  auto run = std::find_if(runs->begin(), runs->end(), [&](const RunRecord& r) {
    return r.scenario == file && r.id > after_run_id;
  });
  if (run == runs->end()) return;
  result.interrupted = run->verdict == "aborted" && result.exit_code == kExitError;
  auto thresholds = (*reader)->thresholds(run->id);
  if (!thresholds) return;
  std::string symptom, recovery;
  bool symptom_seen = true, recovered = true, any_during = false;
  for (const auto& t : *thresholds) {
    if (t.expression.rfind("during(", 0) == 0) {
      any_during = true;
      if (!t.pass) symptom_seen = false;
      if (symptom.empty() || !t.pass) symptom = t.observed_text;
    } else if (t.expression.rfind("after(", 0) == 0) {
      if (!t.pass) recovered = false;
      if (recovery.empty() || !t.pass) recovery = t.observed_text;
    }
  }
  if (any_during) result.symptom = (symptom_seen ? "seen " : "NOT seen: ") + symptom;
  if (!recovery.empty()) result.recovery = (recovered ? "" : "FAILED: ") + recovery;
}

struct RunSettings {
  std::string dir;
  std::map<std::string, std::string> params;
  std::string db = "results.db";
  std::string runs_dir = "runs";
  bool quiet = false;
};

DrillResult run_one(const RunSettings& settings, const std::string& name,
                    TerminationSignals& signals) {
  DrillResult result;
  result.name = name;
  RunOptions options;
  options.scenario_file = settings.dir + "/" + name + ".lua";
  options.params = settings.params;
  options.db_path = settings.db;
  options.runs_dir = settings.runs_dir;
  options.binary = self_executable();
  options.status_line = !settings.quiet;
  int64_t newest_before = 0;
  if (auto reader = ResultsReader::open(settings.db))
    if (auto runs = (*reader)->runs(); runs && !runs->empty()) newest_before = runs->front().id;
  SystemTimeSource time;
  const int64_t began_ms = time.wall_ms();
  result.exit_code = run_scenario(options, time, signals);
  write_reports_of_latest_run(options, began_ms);
  result.verdict = verdict_of(result.exit_code);
  read_outcomes(settings.db, options.scenario_file, newest_before, result);
  return result;
}

void print_table(const std::vector<DrillResult>& results) {
  size_t width = 5;
  for (const auto& r : results) width = std::max(width, r.name.size());
  std::printf("\n%-*s  %-7s  %-40s  %s\n", static_cast<int>(width), "drill", "verdict",
              "symptom (during the fault)", "recovery (after clearing)");
  for (const auto& r : results)
    std::printf("%-*s  %-7s  %-40s  %s\n", static_cast<int>(width), r.name.c_str(),
                r.verdict.c_str(), r.symptom.c_str(), r.recovery.c_str());
}

int list_command(const std::string& dir) {
  auto drills = list_drills(dir);
  if (!drills) {
    std::fprintf(stderr, "error: %s\n", drills.error().message.c_str());
    return kExitError;
  }
  if (drills->empty()) {
    std::printf("no drills in %s\n", dir.c_str());
    return kExitPass;
  }
  size_t width = 5;
  for (const auto& d : *drills) width = std::max(width, d.name.size());
  std::printf("%-*s  %-15s  %s\n", static_cast<int>(width), "drill", "seeds", "description");
  bool all_valid = true;
  for (const auto& d : *drills) {
    std::string seeds;
    for (const auto& s : d.seeds) seeds += (seeds.empty() ? "" : ",") + s;
    std::string text = d.error.empty() ? d.description : "INVALID: " + d.error;
    all_valid = all_valid && d.error.empty();
    std::printf("%-*s  %-15s  %s\n", static_cast<int>(width), d.name.c_str(), seeds.c_str(),
                text.c_str());
  }
  return all_valid ? kExitPass : kExitError;
}

int run_subcommand(int argc, char** argv, const std::string& default_dir) {
  RunSettings settings;
  settings.dir = default_dir;
  std::string name;
  bool all = false, short_mode = false;
  std::vector<std::string> params;
  ArgParser args(
      "drills run",
      "Runs one drill (NAME) or every drill (--all) of the library and prints, per drill, the\n"
      "verdict, whether the symptom was seen while the fault was on, and the recovery time.\n"
      "Exit status: 0 all passed, 99 a drill failed its thresholds or expectations, 1 error.");
  args.positional("NAME", &name, "the drill (see `gatedrill drills list`)", false);
  args.flag("all", &all, "run every drill in the folder, one after the other");
  args.flag("short", &short_mode, "short mode for CI (passes -e SHORT=1: each drill in <= 25 s)");
  args.option("dir", &settings.dir, "drills folder (default: the source tree's scenarios/drills)");
  args.option("db", &settings.db, "results database (default results.db)");
  args.option("runs-dir", &settings.runs_dir, "where run folders go (default runs)");
  args.repeated("env", &params,
                "NAME=VALUE parameter passed to the drill(s); repeatable (also -e)");
  args.flag("quiet", &settings.quiet, "no live status line");
  accept_short_env_flag(argc, argv);
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (!parse_params(params, settings.params)) return 2;
  if (short_mode) settings.params["SHORT"] = "1";
  if (all == !name.empty()) {
    std::fprintf(stderr, "error: give one drill NAME or --all\n%s", args.usage().c_str());
    return 2;
  }

  std::vector<std::string> names;
  if (all) {
    auto found = drill_names(settings.dir);
    if (!found) {
      std::fprintf(stderr, "error: %s\n", found.error().message.c_str());
      return kExitError;
    }
    if (found->empty()) {
      std::fprintf(stderr, "error: no drills (*.lua) in %s\n", settings.dir.c_str());
      return kExitError;
    }
    names = *found;
  } else {
    if (auto file = find_drill(settings.dir, name); !file) {
      std::fprintf(stderr, "error: %s\n", file.error().message.c_str());
      return 2;
    }
    names = {name};
  }

  TerminationSignals signals;
  std::vector<DrillResult> results;
  for (const auto& n : names) {
    if (all) std::fprintf(stderr, "\n=== drill %s ===\n", n.c_str());
    results.push_back(run_one(settings, n, signals));
    if (results.back().interrupted) {
      std::fprintf(stderr, "interrupted: the remaining drills are not run\n");
      break;
    }
  }
  print_table(results);
  bool any_error = std::any_of(results.begin(), results.end(),
                               [](const auto& r) { return r.exit_code == kExitError; });
  bool any_fail = std::any_of(results.begin(), results.end(),
                              [](const auto& r) { return r.exit_code != kExitPass; });
  if (results.size() < names.size()) any_error = true;
  return any_error ? kExitError : any_fail ? kExitThresholdFailed : kExitPass;
}

}  // namespace

std::string default_drills_dir() {
  return GATEDRILL_DRILLS_DIR;
}

Result<std::vector<DrillInfo>> list_drills(const std::string& dir) {
  auto names = drill_names(dir);
  if (!names) return names.error();
  std::vector<DrillInfo> drills;
  for (const auto& name : *names) {
    DrillInfo info;
    info.name = name;
    info.file = dir + "/" + name + ".lua";
    // Loading validates the whole drill (and its dry-run timeline); nothing is started.
    auto script = ScenarioScript::load(info.file, {});
    if (script) {
      const Scenario& s = (*script)->scenario();
      info.description = s.description;
      info.seeds = s.seeds;
    } else {
      info.error = script.error().message;
    }
    drills.push_back(std::move(info));
  }
  return drills;
}

Result<std::string> find_drill(const std::string& dir, const std::string& name) {
  auto names = drill_names(dir);
  if (!names) return names.error();
  if (std::find(names->begin(), names->end(), name) != names->end())
    return dir + "/" + name + ".lua";
  std::string known;
  for (const auto& n : *names) known += (known.empty() ? "" : ", ") + n;
  return make_error("unknown_drill", "no drill named '" + name + "' in " + dir +
                                         (known.empty() ? " (the folder holds no drills)"
                                                        : " (drills: " + known + ")"));
}

int drills_command(int argc, char** argv) {
  std::string dir = default_drills_dir();
  auto usage = [] {
    std::fputs(
        "usage: gatedrill drills list [--dir DIR]\n"
        "       gatedrill drills run NAME [--short] [-e K=V]... [--dir DIR] [--db F] [--runs-dir "
        "D]\n"
        "       gatedrill drills run --all [--short] ...\n\n"
        "The drill library: one scenario per fault line of the seeds (scenarios/drills/). Each "
        "drill\n"
        "asserts its symptom while the fault is on and its recovery after. Exit status: 0 all\n"
        "passed, 99 a drill failed its thresholds or expectations, 1 error, 2 usage.\n",
        stdout);
  };
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  std::string_view sub = argv[1];
  if (sub == "list") {
    ArgParser args("drills list",
                   "Lists the drills: name, seeds, description (each drill is validated).");
    args.option("dir", &dir, "drills folder (default: the source tree's scenarios/drills)");
    if (int code = parse_or_exit_code(args, argc - 1, argv + 1); code >= 0) return code;
    return list_command(dir);
  }
  if (sub == "run") return run_subcommand(argc - 1, argv + 1, dir);
  std::fprintf(stderr, "error: unknown drills subcommand '%s' (list, run)\n", argv[1]);
  return 2;
}

}  // namespace gatedrill
