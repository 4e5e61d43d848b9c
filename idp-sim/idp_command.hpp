#pragma once

namespace gatedrill {

// `gatedrill idp ...`: argv[0] is "idp". Returns the process exit code.
int idp_command(int argc, char** argv);

}  // namespace gatedrill
