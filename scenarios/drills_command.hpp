#pragma once
// `gatedrill drills`: the drill library in scenarios/drills/ (one scenario per row of DRILLS.md).
// `drills list` names each with its seeds and description; `drills run NAME` and `drills run
// --all` run them through the scenario runner and summarise verdict, symptom and recovery.
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill {

struct DrillInfo {
  std::string name;  // file name without .lua: what `drills run NAME` takes
  std::string file;
  std::string description;
  std::vector<std::string> seeds;
  std::string error;  // the load error of a drill that does not validate ("" when it loads)
};

// The source tree's scenarios/drills (compiled in), the default for --dir.
std::string default_drills_dir();

// Every *.lua in dir, loaded (validated, nothing started) and sorted by name. A drill that fails
// to load is listed with its error. Errors: "drills_dir" when dir cannot be read.
Result<std::vector<DrillInfo>> list_drills(const std::string& dir);

// The file of drill `name` in dir. Errors: "unknown_drill" naming the drills that exist.
Result<std::string> find_drill(const std::string& dir, const std::string& name);

// `gatedrill drills list|run ...`: exit 0 all passed, 99 a drill failed its thresholds or
// expectations, 1 error, 2 usage.
int drills_command(int argc, char** argv);

}  // namespace gatedrill
