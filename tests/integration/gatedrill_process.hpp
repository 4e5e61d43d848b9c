#pragma once
// Runs the real gatedrill binary as a child of a Supervisor until it exits (bounded), for the
// integration tests that drive a whole command (drills, run, capacity).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/supervisor/supervisor.hpp"

namespace gatedrill {

// `gatedrill ARGS`: its exit status (-1 when it did not end within limit); output gets its log.
inline int run_gatedrill(Supervisor& supervisor, const std::string& name,
                         const std::string& log_file, const std::vector<std::string>& args,
                         std::chrono::seconds limit, std::string& output) {
  ProcessSpec spec;
  spec.name = name;
  spec.argv = {GATEDRILL_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.log_file = log_file;
  auto spawned = supervisor.spawn(spec);
  EXPECT_TRUE(spawned) << (spawned ? "" : spawned.error().message);
  auto status = supervisor.wait_exit(spec.name, limit);
  EXPECT_TRUE(status) << (status ? "" : status.error().message);
  std::ifstream log(log_file);
  output.assign(std::istreambuf_iterator<char>(log), {});
  return status ? *status : -1;
}

}  // namespace gatedrill
