#pragma once

namespace gatedrill {

// `gatedrill gateway ...`: argv[0] is "gateway". Returns the process exit code.
int gateway_command(int argc, char** argv);

}  // namespace gatedrill
