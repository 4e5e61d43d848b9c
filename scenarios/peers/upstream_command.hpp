#pragma once

namespace gatedrill {

// `gatedrill upstream ...`: argv[0] is "upstream". Returns the process exit code.
int upstream_command(int argc, char** argv);

}  // namespace gatedrill
