#pragma once
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

// `gatedrill run FILE.lua`: exit 0 (pass), 99 (a threshold failed), 1 (error), 2 (usage).
int run_command(int argc, char** argv);
// `gatedrill up [FILE.lua] --endpoints-out F`: the topology with no load, until Ctrl-C.
int up_command(int argc, char** argv);

}  // namespace gatedrill
