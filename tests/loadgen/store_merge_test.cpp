// Workers' own results stores and `gatedrill merge`: the merged run's histograms are the exact
// sum of the workers', and its percentiles those of the union of every recorded value.
#include "loadgen/store_merge.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/store/results_store.hpp"
#include "core/util/json.hpp"
#include "loadgen/loadgen_command.hpp"
#include "loadgen/run_store.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill::loadgen {
namespace {

using namespace std::chrono_literals;

class StoreMerge : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/loadgen_merge_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(std::system(("mkdir -p '" + dir_ + "'").c_str()), 0);
  }
  void TearDown() override { (void)std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // A worker store with `seconds` seconds of random latencies, every value also added to
  // union_latency[second + shift].
  void write_worker(const std::string& file, int64_t started_ms, int seconds, unsigned seed,
                    std::vector<Histogram>* union_latency, int shift) {
    RunRecord run;
    run.scenario = "loadgen";
    run.name = file;
    run.host = "h" + std::to_string(seed);
    run.started_ms = started_ms;
    run.params_json = "{}";
    run.verdict = "running";
    auto store = WorkerStore::open(path(file), run, {{"main", 100, -1, 3s}}, {"all", file});
    ASSERT_TRUE(store.ok()) << store.error().message;
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> latency_ns(13.5, 1.0);  // ~700 us median, long tail
    for (int second = 0; second < seconds; ++second) {
      IntervalStats s;
      s.second = second;
      s.phase = "main";
      int n = 500 + static_cast<int>(seed % 7) * 100;
      for (int i = 0; i < n; ++i) {
        int64_t v = static_cast<int64_t>(latency_ns(rng)) + 1000;
        s.latency.record(v);
        s.latency_actual.record(v / 2);
        (*union_latency)[static_cast<size_t>(second + shift)].record(v);
      }
      s.completed = n;
      s.sent = n;
      s.status_counts = {{200, n - 10}, {503, 10}};
      s.timeouts = 2;
      (*store)->record(s);
    }
    ASSERT_TRUE((*store)->finish("pass", 0, started_ms + seconds * 1000).ok());
  }

  std::string dir_;
};

TEST_F(StoreMerge, MergedHistogramsAreTheSumAndPercentilesThoseOfTheUnion) {
  std::vector<Histogram> union_latency(5);
  write_worker("w1.db", 1'700'000'000'000, 3, 1, &union_latency, 0);
  // Started 2 s (and a bit) later: its seconds land 2 later in the merged run.
  write_worker("w2.db", 1'700'000'002'300, 3, 2, &union_latency, 2);
  auto merged = merge_stores(path("out.db"), {path("w1.db"), path("w2.db")});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ(merged->seconds, 5);

  auto reader = ResultsReader::open(path("out.db"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto run = (*reader)->run(merged->run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->started_ms, 1'700'000'000'000);
  EXPECT_EQ(run->host, "h1,h2");
  EXPECT_EQ(run->verdict, "pass");
  EXPECT_NE(run->params_json.find("w2.db"), std::string::npos);

  auto histograms = (*reader)->histograms(merged->run_id, "all", "latency");
  ASSERT_TRUE(histograms.ok());
  ASSERT_EQ(histograms->size(), 5u);
  auto samples = (*reader)->samples(merged->run_id, "all");
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const auto& h = (*histograms)[i];
    ASSERT_EQ(h.second, static_cast<int64_t>(i));
    auto decoded = Histogram::decode(h.hdr);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->count(), union_latency[i].count()) << i;
    EXPECT_EQ(decoded->encode(), union_latency[i].encode()) << i;
    for (double q : {50.0, 90.0, 99.0, 99.9, 100.0})
      EXPECT_EQ(decoded->percentile(q), union_latency[i].percentile(q)) << i << " p" << q;
    const SampleRecord& s = (*samples)[i];
    EXPECT_DOUBLE_EQ(s.p99_us, static_cast<double>(union_latency[i].percentile(99)) / 1e3);
    EXPECT_DOUBLE_EQ(s.max_us, static_cast<double>(union_latency[i].max()) / 1e3);
    // Seconds 2 holds both workers; counts add up (requests = completed + timeouts).
    int64_t n = union_latency[i].count();
    int workers = i == 2 ? 2 : 1;
    EXPECT_EQ(s.requests, n + 2 * workers) << i;
    EXPECT_EQ(s.status_5xx, 10 * workers) << i;
    EXPECT_EQ(s.status_2xx, n - 10 * workers) << i;
    EXPECT_EQ(s.errors, 12 * workers) << i;
    EXPECT_EQ(s.timeouts, 2 * workers);
  }
  // Each worker's own node is kept under its name.
  auto w2 = (*reader)->histograms(merged->run_id, "w2.db", "latency_actual");
  ASSERT_TRUE(w2.ok());
  ASSERT_EQ(w2->size(), 3u);
  EXPECT_EQ(w2->front().second, 2);
  auto phases = (*reader)->phases(merged->run_id);
  ASSERT_TRUE(phases.ok());
  ASSERT_EQ(phases->size(), 1u);
  EXPECT_DOUBLE_EQ(phases->front().target_rate, 200);
}

TEST_F(StoreMerge, BadInputsAreClearErrors) {
  std::vector<Histogram> unused(3);
  write_worker("w1.db", 1'700'000'000'000, 1, 1, &unused, 0);
  {
    auto empty = ResultsStore::open(path("empty.db"));
    ASSERT_TRUE(empty.ok());
  }
  struct Case {
    std::vector<std::string> inputs;
    std::string says;
  };
  for (const auto& c : std::vector<Case>{{{path("missing.db")}, "missing.db"},
                                         {{path("empty.db")}, "no run"},
                                         {{path("w1.db"), path("out.db")}, "output store"},
                                         {{}, "no input"}}) {
    if (c.says == "output store") {
      auto out = ResultsStore::open(path("out.db"));
      ASSERT_TRUE(out.ok());
    }
    auto r = merge_stores(path("out.db"), c.inputs);
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_EQ(r.error().code, "bad_input");
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

int run(const std::vector<std::string>& args, int (*command)(int, char**), std::string* out) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int code = command(static_cast<int>(argv.size()), argv.data());
  *out = ::testing::internal::GetCapturedStdout() + ::testing::internal::GetCapturedStderr();
  return code;
}

TEST_F(StoreMerge, TwoWorkerRunsMergeThroughTheCommands) {
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; });
  std::string out;
  for (const char* name : {"a", "b"}) {
    int code =
        run({"loadgen", server.url("/w"), "--rate", "100", "--duration", "1s", "--connections", "2",
             "--worker", "--node", name, "--store", path(std::string(name) + ".db")},
            loadgen_command, &out);
    ASSERT_EQ(code, 0) << out;
    auto line = parse_json_object(out);
    ASSERT_TRUE(line.ok()) << out;
    EXPECT_EQ(line->at("completed").as_int64(), 100);
  }
  int code = run({"merge", path("out.db"), path("a.db"), path("b.db")}, merge_command, &out);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("merged 2 stores"), std::string::npos) << out;
  auto reader = ResultsReader::open(path("out.db"));
  ASSERT_TRUE(reader.ok());
  auto runs = (*reader)->runs();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  int64_t total = 0;
  auto histograms = (*reader)->histograms(runs->front().id, "all", "latency");
  ASSERT_TRUE(histograms.ok());
  for (const auto& h : *histograms) total += Histogram::decode(h.hdr)->count();
  EXPECT_EQ(total, 200);
  for (const char* name : {"a", "b"}) {
    auto own = (*reader)->samples(runs->front().id, name);
    ASSERT_TRUE(own.ok());
    int64_t requests = 0;
    for (const auto& s : *own) requests += s.requests;
    EXPECT_EQ(requests, 100) << name;
  }

  EXPECT_EQ(run({"merge", path("out.db")}, merge_command, &out), 2);
  EXPECT_EQ(run({"merge", "--bogus", path("out.db"), path("a.db")}, merge_command, &out), 2);
  EXPECT_EQ(run({"merge", path("out2.db"), path("nope.db")}, merge_command, &out), 1);
  EXPECT_NE(out.find("nope.db"), std::string::npos) << out;
  EXPECT_EQ(run({"loadgen", server.url("/"), "--worker"}, loadgen_command, &out), 2);
  EXPECT_NE(out.find("--store"), std::string::npos) << out;
}

}  // namespace
}  // namespace gatedrill::loadgen
