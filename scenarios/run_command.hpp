#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gatedrill {

// The running gatedrill executable (children are started from it).
std::string self_executable();
// -e K=V pairs into params; false with a message on stderr for a malformed one.
bool parse_params(const std::vector<std::string>& pairs,
                  std::map<std::string, std::string>& params);
// k6 spells --env as -e: rewrites argv in place so ArgParser sees --env.
void accept_short_env_flag(int argc, char** argv);

struct RunOptions;
// report.html and junit.xml into the run folder of the run just recorded (the newest run of
// options.scenario_file that began after began_ms; none when it failed before starting), and
// their paths on stdout.
void write_reports_of_latest_run(const RunOptions& options, int64_t began_ms);

// `gatedrill run FILE.lua`: exit 0 (pass), 99 (a threshold failed), 1 (error), 2 (usage).
int run_command(int argc, char** argv);
// `gatedrill up [FILE.lua] --endpoints-out F`: the topology with no load, until Ctrl-C.
int up_command(int argc, char** argv);

}  // namespace gatedrill
