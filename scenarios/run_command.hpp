#pragma once

namespace gatedrill {

// `gatedrill run FILE.lua`: exit 0 (pass), 99 (a threshold failed), 1 (error), 2 (usage).
int run_command(int argc, char** argv);
// `gatedrill up [FILE.lua] --endpoints-out F`: the topology with no load, until Ctrl-C.
int up_command(int argc, char** argv);

}  // namespace gatedrill
