#include "scenarios/run_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>

#ifndef GATEDRILL_GIT_DESCRIBE
#define GATEDRILL_GIT_DESCRIBE "unknown"
#endif

namespace gatedrill {

std::string make_run_dir(const std::string& runs_dir, const std::string& name, TimeSource& time) {
  std::time_t seconds = static_cast<std::time_t>(time.wall_seconds());
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  mkdir(runs_dir.c_str(), 0755);
  std::string base = runs_dir + "/" + stamp + "-" + name;
  std::string dir = base;
  for (int i = 2; mkdir(dir.c_str(), 0755) != 0; ++i) {
    if (errno != EEXIST || i > 100) return "";
    dir = base + "-" + std::to_string(i);
  }
  char resolved[PATH_MAX];
  return realpath(dir.c_str(), resolved) ? std::string(resolved) : dir;
}

std::string params_json(const std::map<std::string, std::string>& params) {
  boost::json::object o;
  for (const auto& [k, v] : params) o[k] = v;
  return boost::json::serialize(o);
}

RunRecord new_run_record(const std::string& scenario_file, const std::string& name,
                         const std::map<std::string, std::string>& params,
                         const std::string& run_dir, TimeSource& time) {
  RunRecord run;
  run.scenario = scenario_file;
  run.name = name;
  run.git_describe = GATEDRILL_GIT_DESCRIBE;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  run.host = host;
  run.started_ms = time.wall_ms();
  run.params_json = params_json(params);
  run.verdict = "running";
  run.run_dir = run_dir;
  return run;
}

SecondStats to_second_stats(const IntervalStats& in) {
  SecondStats out;
  out.second = in.second;
  out.phase = in.phase;
  out.target_rate = in.target_rate;
  out.sent = in.sent;
  out.completed = in.completed;
  out.connect_errors = in.connect_errors;
  out.timeouts = in.timeouts;
  out.status_counts = in.status_counts;
  out.io_errors = in.errors;
  out.errors = in.connect_errors + in.timeouts + in.errors;
  for (const auto& [status, count] : in.status_counts)
    if (status >= 400 || status < 200) out.errors += count;
  out.latency = in.latency;
  out.latency_actual = in.latency_actual;
  return out;
}

}  // namespace gatedrill
