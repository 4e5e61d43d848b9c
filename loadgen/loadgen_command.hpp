#pragma once

namespace gatedrill {

// `gatedrill loadgen ...`: argv[0] is "loadgen". Returns the process exit code.
int loadgen_command(int argc, char** argv);

}  // namespace gatedrill
