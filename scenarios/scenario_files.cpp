#include "scenarios/scenario_files.hpp"

#include <fstream>
#include <sstream>

namespace gatedrill {

std::string resolve_scenario_path(const std::string& scenario_file, const std::string& relative) {
  if (!relative.empty() && relative[0] == '/') return relative;
  size_t slash = scenario_file.find_last_of('/');
  if (slash == std::string::npos) return relative;
  return scenario_file.substr(0, slash + 1) + relative;
}

Result<std::string> read_scenario_file(const std::string& scenario_file,
                                       const std::string& relative) {
  if (relative.empty()) return make_error("scenario_file", "the file name is empty");
  std::string path = resolve_scenario_path(scenario_file, relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("scenario_file", "cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string out = text.str();
  // A policy is a few KiB; anything this large is the wrong file.
  if (out.size() > (1u << 20)) return make_error("scenario_file", path + " is larger than 1 MiB");
  if (out.empty()) return make_error("scenario_file", path + " is empty");
  return out;
}

}  // namespace gatedrill
