#pragma once

namespace gatedrill {

// `gatedrill report ...`: argv[0] is "report". Returns the process exit code.
int report_command(int argc, char** argv);

}  // namespace gatedrill
