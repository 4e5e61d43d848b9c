#pragma once
// Small results stores with known contents for the reports tests.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"

namespace gatedrill::testing {

// Wall clock of the load start in every fixture run; phase "warmup" is seconds 0..1, "steady"
// seconds 2..11; a fault window covers seconds 5..8 (wall 5000..8000 ms after the start).
inline constexpr int64_t kLoadStartMs = 1'800'000'000'000;

struct FixtureRun {
  std::string name = "fixture";
  // The latency values (ns) recorded in second s of node n (n < nodes); default: 99 values at
  // 1 ms and 1 at 50 ms every second.
  std::function<std::vector<int64_t>(int64_t second)> latencies;
  int nodes = 1;
  int64_t errors_5xx_per_second = 0;  // of the 100 requests a second
  bool with_thresholds = true;
  bool with_fault = true;
  std::string verdict = "fail";
};

// A temporary directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// Appends a run to the database at path; returns its id (0 on failure, with a gtest failure).
int64_t add_fixture_run(const std::string& db_path, const FixtureRun& run);

// A small well-formedness check for XML and our HTML: tags balance (void HTML elements and
// <?...?>, <!...> excepted), attributes are quoted. Returns "" or what is wrong.
std::string check_well_formed(const std::string& text);
int count_of(const std::string& text, const std::string& needle);
std::string read_file(const std::string& path);
// Calls a subcommand's entry point with args (args[0] is the command's name).
int run_cli(int (*command)(int, char**), std::vector<std::string> args);

}  // namespace gatedrill::testing
