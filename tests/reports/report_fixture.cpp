#include "report_fixture.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/histogram/histogram.hpp"

namespace gatedrill::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::path(::testing::TempDir()) / "reports-XXXXXX").string();
  EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
  dir_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int64_t add_fixture_run(const std::string& db_path, const FixtureRun& f) {
  auto store = ResultsStore::open(db_path);
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  if (!store) return 0;
  RunRecord run;
  run.scenario = "fixture.lua";
  run.name = f.name;
  run.git_describe = "v0.1-test";
  run.host = "testhost";
  run.started_ms = kLoadStartMs - 3000;
  run.params_json = "{\"RATE\":\"100\"}";
  run.verdict = "running";
  auto id = (*store)->begin_run(run);
  EXPECT_TRUE(id);
  if (!id) return 0;
  (*store)->add_phase({*id, 0, "warmup", kLoadStartMs, kLoadStartMs + 2000, 100});
  (*store)->add_phase({*id, 1, "steady", kLoadStartMs + 2000, kLoadStartMs + 12000, 100});
  auto latencies = f.latencies ? f.latencies : [](int64_t) {
    std::vector<int64_t> v(99, 1'000'000);
    v.push_back(50'000'000);
    return v;
  };
  std::vector<std::string> nodes;
  for (int n = 1; n <= f.nodes; ++n) nodes.push_back("gw-" + std::to_string(n));
  for (int64_t second = 0; second < 12; ++second) {
    Histogram all;
    int64_t all_requests = 0, all_5xx = 0;
    for (size_t n = 0; n < nodes.size(); ++n) {
      Histogram h;
      for (int64_t v : latencies(second)) h.record(v);
      all.merge(h);
      all_requests += h.count();
      all_5xx += f.errors_5xx_per_second;
      SampleRecord s;
      s.run_id = *id;
      s.node = nodes[n];
      s.second = second;
      s.phase = second < 2 ? "warmup" : "steady";
      s.requests = h.count();
      s.errors = f.errors_5xx_per_second;
      s.status_2xx = h.count() - f.errors_5xx_per_second;
      s.status_5xx = f.errors_5xx_per_second;
      s.p50_us = static_cast<double>(h.percentile(50)) / 1000.0;
      s.p99_us = static_cast<double>(h.percentile(99)) / 1000.0;
      s.p999_us = static_cast<double>(h.percentile(99.9)) / 1000.0;
      s.max_us = static_cast<double>(h.max()) / 1000.0;
      s.cpu_pct = 40.0 + static_cast<double>(n) * 5;
      if (f.nodes > 1) {
        (*store)->add_sample(s);
        (*store)->add_histogram({*id, nodes[n], second, "latency", h.encode()});
      }
    }
    SampleRecord s;
    s.run_id = *id;
    s.node = "all";
    s.second = second;
    s.phase = second < 2 ? "warmup" : "steady";
    s.requests = all_requests;
    s.errors = all_5xx;
    s.status_2xx = all_requests - all_5xx;
    s.status_5xx = all_5xx;
    s.status_counts_json = "{\"200\":" + std::to_string(all_requests - all_5xx) +
                           (all_5xx ? ",\"503\":" + std::to_string(all_5xx) : std::string()) + "}";
    s.p50_us = static_cast<double>(all.percentile(50)) / 1000.0;
    s.p90_us = static_cast<double>(all.percentile(90)) / 1000.0;
    s.p99_us = static_cast<double>(all.percentile(99)) / 1000.0;
    s.p999_us = static_cast<double>(all.percentile(99.9)) / 1000.0;
    s.max_us = static_cast<double>(all.max()) / 1000.0;
    (*store)->add_sample(s);
    (*store)->add_histogram({*id, "all", second, "latency", all.encode()});
  }
  if (f.with_fault)
    (*store)->add_event({*id, kLoadStartMs + 5000, kLoadStartMs + 8000, "gw-1", "fault",
                         "latency_spike", "{\"latency\":\"200ms\"}"});
  (*store)->add_event({*id, kLoadStartMs + 9000, 0, "gw-1", "restart", "restart", "{}"});
  if (f.with_thresholds) {
    (*store)->add_threshold({*id, "steady.p99 < 10ms", 1.0e6, "1.00ms", true, false});
    (*store)->add_threshold({*id, "steady.errors < 0.1%", 0.02, "2.00% <&>", false, false});
  }
  auto ended =
      (*store)->end_run(*id, f.verdict, f.verdict == "pass" ? 0 : 99, kLoadStartMs + 12500);
  EXPECT_TRUE(ended);
  return *id;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run_cli(int (*command)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return command(static_cast<int>(argv.size()), argv.data());
}

std::string check_well_formed(const std::string& text) {
  static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "link", "input"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = text.find('<', i)) != std::string::npos) {
    size_t end = text.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = text.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '?' || tag[0] == '!') continue;
    bool closing = tag[0] == '/';
    bool self_closing = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" /\n"));
    if (count_of(tag, "\"") % 2 != 0) return "unbalanced quotes in <" + tag + ">";
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) +
               ">";
      open.pop_back();
    } else if (!self_closing && !kVoid.count(name)) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return "";
}

}  // namespace gatedrill::testing
