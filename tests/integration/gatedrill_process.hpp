#pragma once
// Runs the real gatedrill binary as a child of a Supervisor until it exits (bounded), for the
// integration tests that drive a whole command (drills, run, capacity).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
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

// A new, empty folder for one test's results store and logs. mkdtemp, not the PID: PIDs repeat
// across CI runs on one machine, and an earlier run's results.db would hold its runs too.
// Removed when the test passes; kept, for its logs, when it fails.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix) {
    std::string pattern = ::testing::TempDir() + prefix + "XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace gatedrill
