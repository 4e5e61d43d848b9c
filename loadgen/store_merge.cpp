#include "loadgen/store_merge.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/histogram/histogram.hpp"
#include "core/store/results_store.hpp"
#include "core/util/json.hpp"
#include "loadgen/run_store.hpp"

namespace gatedrill::loadgen {
namespace {

struct Merged {
  SecondCounts counts;
  double cpu_pct = 0;
  int64_t rss_bytes = 0;
  Histogram latency;
  Histogram latency_actual;
  bool has_latency = false;
  bool has_actual = false;
  SampleRecord fallback;  // the worst percentiles seen, for inputs without histograms
};

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

void add_status(SecondCounts* into, const SampleRecord& s) {
  auto parsed = parse_json_object(s.status_counts_json);
  bool any = false;
  if (parsed)
    for (const auto& [code, count] : *parsed)
      if (count.is_int64()) {
        into->status_counts[std::atoi(std::string(code).c_str())] += count.as_int64();
        any = true;
      }
  if (!any) {  // no per-code counts: keep the classes
    into->status_counts[200] += s.status_2xx;
    into->status_counts[300] += s.status_3xx;
    into->status_counts[400] += s.status_4xx;
    into->status_counts[500] += s.status_5xx;
    for (int code : {200, 300, 400, 500})
      if (into->status_counts[code] == 0) into->status_counts.erase(code);
  }
}

}  // namespace

Result<MergeOutcome> merge_stores(const std::string& out_path,
                                  const std::vector<std::string>& input_paths) {
  if (input_paths.empty()) return make_error("bad_input", "no input stores given");
  struct Input {
    std::string path;
    std::unique_ptr<ResultsReader> reader;
    RunRecord run;
  };
  std::vector<Input> inputs;
  for (const auto& path : input_paths) {
    if (same_file(path, out_path))
      return make_error("bad_input", "'" + path + "' is the output store itself");
    auto reader = ResultsReader::open(path);
    if (!reader) return make_error("bad_input", "'" + path + "': " + reader.error().message);
    auto runs = (*reader)->runs();
    if (!runs) return make_error("bad_input", "'" + path + "': " + runs.error().message);
    if (runs->empty()) return make_error("bad_input", "'" + path + "' holds no run");
    inputs.push_back({path, std::move(*reader), runs->front()});
  }
  int64_t earliest = inputs.front().run.started_ms;
  for (const auto& in : inputs) earliest = std::min(earliest, in.run.started_ms);

  std::map<std::pair<std::string, int64_t>, Merged> rows;  // (node, second) -> merged
  std::vector<PhaseRecord> phases;
  std::vector<EventRecord> events;
  for (const auto& in : inputs) {
    int64_t shift = static_cast<int64_t>(
        std::llround(static_cast<double>(in.run.started_ms - earliest) / 1000.0));
    const int64_t id = in.run.id;
    auto samples = in.reader->samples(id);
    if (!samples) return make_error("bad_input", "'" + in.path + "': " + samples.error().message);
    std::set<std::string> nodes;
    for (const auto& s : *samples) {
      nodes.insert(s.node);
      Merged& m = rows[{s.node, s.second + shift}];
      if (m.counts.phase.empty()) m.counts.phase = s.phase;
      m.counts.requests += s.requests;
      m.counts.errors += s.errors;
      m.counts.connect_errors += s.connect_errors;
      m.counts.timeouts += s.timeouts;
      add_status(&m.counts, s);
      m.cpu_pct += s.cpu_pct;
      m.rss_bytes += s.rss_bytes;
      m.fallback.p50_us = std::max(m.fallback.p50_us, s.p50_us);
      m.fallback.p90_us = std::max(m.fallback.p90_us, s.p90_us);
      m.fallback.p99_us = std::max(m.fallback.p99_us, s.p99_us);
      m.fallback.p999_us = std::max(m.fallback.p999_us, s.p999_us);
      m.fallback.max_us = std::max(m.fallback.max_us, s.max_us);
    }
    for (const auto& node : nodes)
      for (const char* kind : {"latency", "latency_actual"}) {
        auto hs = in.reader->histograms(id, node, kind);
        if (!hs) return make_error("bad_input", "'" + in.path + "': " + hs.error().message);
        for (const auto& h : *hs) {
          auto decoded = Histogram::decode(h.hdr);
          if (!decoded)
            return make_error("bad_input", "'" + in.path + "': histogram of " + node + " second " +
                                               std::to_string(h.second) + ": " +
                                               decoded.error().message);
          Merged& m = rows[{node, h.second + shift}];
          bool actual = std::string_view(kind) == "latency_actual";
          (actual ? m.latency_actual : m.latency).merge(*decoded);
          (actual ? m.has_actual : m.has_latency) = true;
        }
      }
    auto in_phases = in.reader->phases(id);
    if (!in_phases)
      return make_error("bad_input", "'" + in.path + "': " + in_phases.error().message);
    for (const auto& p : *in_phases) {
      auto it = std::find_if(phases.begin(), phases.end(),
                             [&](const PhaseRecord& q) { return q.index == p.index; });
      if (it == phases.end()) {
        phases.push_back(p);
      } else {
        it->started_ms = std::min(it->started_ms, p.started_ms);
        it->ended_ms = std::max(it->ended_ms, p.ended_ms);
        it->target_rate += p.target_rate;
      }
    }
    auto in_events = in.reader->events(id);
    if (!in_events)
      return make_error("bad_input", "'" + in.path + "': " + in_events.error().message);
    events.insert(events.end(), in_events->begin(), in_events->end());
  }

  auto store = ResultsStore::open(out_path);
  if (!store) return store.error();
  RunRecord run;
  run.scenario = inputs.front().run.scenario;
  run.name = inputs.front().run.name;
  run.git_describe = inputs.front().run.git_describe;
  std::set<std::string> hosts;
  boost::json::array from;
  run.started_ms = earliest;
  run.verdict = "pass";
  run.exit_code = 0;
  for (const auto& in : inputs) {
    if (hosts.insert(in.run.host).second) run.host += (run.host.empty() ? "" : ",") + in.run.host;
    run.ended_ms = std::max(run.ended_ms, in.run.ended_ms);
    if (in.run.verdict != "pass" && run.verdict == "pass") run.verdict = in.run.verdict;
    run.exit_code = std::max(run.exit_code, in.run.exit_code);
    boost::json::object source;
    source["store"] = in.path;
    source["run_id"] = in.run.id;
    source["started_ms"] = in.run.started_ms;
    source["params"] = in.run.params_json;
    from.push_back(std::move(source));
  }
  boost::json::object params;
  params["merged_from"] = std::move(from);
  run.params_json = to_json(params);
  auto id = (*store)->begin_run(run);
  if (!id) return id.error();

  MergeOutcome outcome;
  outcome.run_id = *id;
  std::set<int64_t> seconds;
  for (auto& [key, m] : rows) {
    const auto& [node, second] = key;
    SampleRecord s = make_sample(*id, node, second, m.counts, m.latency);
    if (!m.has_latency) {
      s.p50_us = m.fallback.p50_us;
      s.p90_us = m.fallback.p90_us;
      s.p99_us = m.fallback.p99_us;
      s.p999_us = m.fallback.p999_us;
      s.max_us = m.fallback.max_us;
    }
    s.cpu_pct = m.cpu_pct;
    s.rss_bytes = m.rss_bytes;
    (*store)->add_sample(std::move(s));
    if (m.has_latency) (*store)->add_histogram({*id, node, second, "latency", m.latency.encode()});
    if (m.has_actual)
      (*store)->add_histogram({*id, node, second, "latency_actual", m.latency_actual.encode()});
    seconds.insert(second);
    ++outcome.samples;
  }
  outcome.seconds = static_cast<int64_t>(seconds.size());
  for (auto& p : phases) {
    p.run_id = *id;
    (*store)->add_phase(p);
  }
  for (auto& e : events) {
    e.run_id = *id;
    (*store)->add_event(e);
  }
  if (auto ended = (*store)->end_run(*id, run.verdict, run.exit_code, run.ended_ms); !ended)
    return ended.error();
  return outcome;
}

int merge_command(int argc, char** argv) {
  static const char kUsage[] =
      "usage: gatedrill merge OUT.db IN1.db [IN2.db ...]\n\n"
      "Combine the results stores of load generator workers (gatedrill loadgen --worker --store "
      "F)\n"
      "into one new run in OUT (created if missing), exactly: per node and second the HDR\n"
      "histograms are merged and the percentiles recomputed from them, counts are summed. Each\n"
      "input's newest run is taken; inputs line up by their start times.\n"
      "Exit 0 on success, 1 when an input cannot be read or OUT cannot be written, 2 on bad "
      "usage.\n";
  // Positionals only (ArgParser has no variadic positional).
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "error: unknown option %s\n\n%s", argv[i], kUsage);
      return 2;
    }
    paths.emplace_back(a);
  }
  if (paths.size() < 2) {
    std::fprintf(stderr, "error: give OUT and at least one input store\n\n%s", kUsage);
    return 2;
  }
  std::string out = paths.front();
  std::vector<std::string> inputs(paths.begin() + 1, paths.end());
  auto merged = merge_stores(out, inputs);
  if (!merged) {
    std::fprintf(stderr, "error: %s\n", merged.error().message.c_str());
    return 1;
  }
  std::printf("merged %zu stores into run %lld of %s: %lld seconds, %lld samples\n", inputs.size(),
              static_cast<long long>(merged->run_id), out.c_str(),
              static_cast<long long>(merged->seconds), static_cast<long long>(merged->samples));
  return 0;
}

}  // namespace gatedrill::loadgen
