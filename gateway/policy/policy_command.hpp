#pragma once
// `gatedrill policy eval|test|lint`: the Rego engine from the command line, shaped like
// `opa eval --format json` and `opa test`.
namespace gatedrill {

int policy_command(int argc, char** argv);

}  // namespace gatedrill
