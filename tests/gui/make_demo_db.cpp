// gui_demo_db OUT.db: writes synthetic runs (a 10-minute 3-node drill, a slower candidate of it,
// a failed capacity run, a 1-hour 3-node soak) so the dashboard can be tried, and its docs
// screenshot made, without load.
#include <cstdio>

#include "tests/gui/synthetic_run.hpp"

int main(int argc, char** argv) {
  using gatedrill::gui::testing::SyntheticRun;
  if (argc != 2) {
    std::fprintf(stderr, "usage: gui_demo_db OUT.db\n");
    return 2;
  }
  auto store = gatedrill::ResultsStore::open(argv[1]);
  if (!store) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return 1;
  }
  SyntheticRun capacity;
  capacity.name = "capacity";
  capacity.seconds = 300;
  capacity.rate = 12000;
  capacity.nodes = 2;
  capacity.verdict = "fail";
  SyntheticRun drill;
  drill.name = "clock-skew-drill";
  drill.seconds = 600;
  drill.rate = 6000;
  drill.started_ms = capacity.started_ms + 3'600'000;
  SyntheticRun candidate = drill;
  candidate.latency_scale = 1.3;
  candidate.started_ms += 3'600'000;
  SyntheticRun soak;  // the design's size: a 1-hour, 3-node run
  soak.name = "soak";
  soak.seconds = 3600;
  soak.rate = 3000;
  soak.started_ms = candidate.started_ms + 3'600'000;
  for (const auto& run : {capacity, drill, candidate, soak}) {
    auto id = gatedrill::gui::testing::write_synthetic_run(**store, run);
    if (!id) {
      std::fprintf(stderr, "error: %s\n", id.error().message.c_str());
      return 1;
    }
    std::printf("run %lld: %s\n", static_cast<long long>(*id), run.name.c_str());
  }
  return 0;
}
