#include "scenarios/capacity.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "core/store/results_store.hpp"
#include "core/supervisor/supervisor.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "loadgen/load_generator.hpp"
#include "scenarios/process_stats.hpp"
#include "scenarios/run_command.hpp"
#include "scenarios/run_recorder.hpp"
#include "scenarios/run_support.hpp"
#include "scenarios/runner.hpp"
#include "scenarios/scenario_script.hpp"
#include "scenarios/thresholds.hpp"
#include "scenarios/topology.hpp"

namespace gatedrill {

Result<ThresholdSpec> parse_slo(std::string_view text) {
  std::string_view t = trim(text);
  size_t op = t.find_first_of("<>");
  if (op == std::string_view::npos || op == 0)
    return make_error("bad_slo", "SLO '" + std::string(text) +
                                     "' needs metric, operator and limit, e.g. 'p99<10ms'");
  auto spec = parse_condition(trim(t.substr(0, op)), t.substr(op));
  if (!spec)
    return make_error("bad_slo", "SLO '" + std::string(text) + "': " + spec.error().message);
  spec->text = std::string(trim(t.substr(0, op))) + " " + spec->op + " " +
               std::string(trim(t.substr(op + spec->op.size())));
  return spec;
}

CapacitySearch::CapacitySearch(CapacitySearchOptions options) : options_(options) {
  next_ = std::max(options_.min, std::min(options_.start, options_.max));
}

std::optional<double> CapacitySearch::next_rate() const {
  return next_;
}

void CapacitySearch::record(const CapacityStep& step) {
  steps_.push_back(step);
  if (step.pass)
    good_ = std::max(good_.value_or(0), step.rate);
  else
    bad_ = std::min(bad_.value_or(step.rate), step.rate);
  next_.reset();
  if (!bad_) {
    // Still doubling.
    if (step.rate >= options_.max)
      reached_max_ = true;
    else
      next_ = std::min(step.rate * 2, options_.max);
    return;
  }
  double lo = good_.value_or(0), hi = *bad_;
  if (lo >= hi) return;  // a noisy step passed above a failed one: the failed one stands
  if (good_ && hi - lo <= options_.precision * lo) return;
  double mid = std::round((lo + hi) / 2);
  if (mid < options_.min || mid <= lo || mid >= hi) return;
  next_ = mid;
}

std::optional<double> CapacitySearch::sustainable() const {
  if (good_ && bad_ && *good_ >= *bad_) {
    // Take the best good rate below the first failure.
    std::optional<double> best;
    for (const auto& s : steps_)
      if (s.pass && s.rate < *bad_) best = std::max(best.value_or(0), s.rate);
    return best;
  }
  return good_;
}

std::optional<double> CapacitySearch::breaking() const {
  return bad_;
}

// How far the per-second p99s of a step agree: the p99 of a step whose seconds disagree by more
// than half is a weak basis for a verdict near the SLO (lengthen --step-duration).
constexpr double kUnstableSpread = 0.5;

const char* p99_confidence(double p99_spread) {
  if (p99_spread < 0.2) return "high";
  if (p99_spread < kUnstableSpread) return "medium";
  return "low";
}

CapacitySizing capacity_sizing(const CapacityStep& step, int nodes, int64_t idle_rss_bytes) {
  CapacitySizing z;
  nodes = std::max(1, nodes);
  z.rps_per_node = step.rate / nodes;
  if (step.achieved_rps > 0)
    z.cores_per_5k_rps = step.gateway_cpu_pct / 100 / (step.achieved_rps / 5000);
  z.rss_per_node_bytes = static_cast<double>(step.gateway_rss_bytes) / nodes;
  z.connections_per_node = step.connections / nodes;
  int64_t grown = step.gateway_rss_bytes - idle_rss_bytes;
  if (grown > 0 && step.connections > 0)
    z.bytes_per_connection = static_cast<double>(grown) / step.connections;
  z.p99_confidence = p99_confidence(step.p99_spread);
  return z;
}

std::string format_sizing(const CapacitySizing& z) {
  char text[512];
  std::snprintf(text, sizeof text,
                "sizing (p99 confidence %s):\n"
                "  requests/s per node within the SLOs: %.0f\n"
                "  gateway vCPU per 5000 req/s: %.2f\n"
                "  memory per node: %.1f MiB RSS with %d client connections (%.1f KiB per "
                "connection over idle)\n",
                z.p99_confidence.c_str(), z.rps_per_node, z.cores_per_5k_rps,
                z.rss_per_node_bytes / (1 << 20), z.connections_per_node,
                z.bytes_per_connection / 1024);
  return text;
}

namespace {

void say(const std::string& text) {
  std::fprintf(stderr, "%s\n", text.c_str());
}

struct CapacitySettings {
  std::string file;
  std::map<std::string, std::string> params;
  std::vector<ThresholdSpec> slos;
  CapacitySearchOptions search;
  std::chrono::nanoseconds step_duration = std::chrono::seconds(10);
  std::string db = "results.db";
  std::string runs_dir = "runs";
  bool status_line = true;
};

// Connections per node: each carries one request at a time, so enough that a few milliseconds
// of latency do not cap the rate (an open-loop generator queues and counts that as latency).
int connections_for(double rate_per_node) {
  return static_cast<int>(std::clamp(std::ceil(rate_per_node / 250.0), 4.0, 512.0));
}

class CapacityRun {
 public:
  CapacityRun(CapacitySettings settings, TimeSource& time, TerminationSignals& signals)
      : settings_(std::move(settings)), time_(time), signals_(signals), supervisor_(time) {}

  int execute();

 private:
  Result<void> prepare();
  Result<CapacityStep> measure(int index, double rate);
  void status(int index, double rate, const SampleRecord& sample, const Histogram& latency);
  void print_table(const CapacitySearch& search) const;

  CapacitySettings settings_;
  TimeSource& time_;
  TerminationSignals& signals_;
  Supervisor supervisor_;
  std::unique_ptr<ScenarioScript> script_;
  std::unique_ptr<ResultsStore> store_;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<RunRecorder> recorder_;
  std::vector<std::string> tokens_;
  std::string run_dir_;
  int64_t run_id_ = 0;
  int64_t next_second_ = 0;     // where the next step's seconds start in the run
  int64_t idle_rss_bytes_ = 0;  // the gateways' RSS before the first step
  bool interrupted_ = false;
  bool terminal_ = isatty(STDERR_FILENO) != 0;
};

Result<void> CapacityRun::prepare() {
  auto script = ScenarioScript::load(settings_.file, settings_.params);
  if (!script) return script.error();
  script_ = std::move(*script);
  const Scenario& s = script_->scenario();
  auto store = ResultsStore::open(settings_.db);
  if (!store) return store.error();
  store_ = std::move(*store);
  run_dir_ = make_run_dir(settings_.runs_dir, s.name + "-capacity", time_);
  if (run_dir_.empty())
    return make_error("run_dir", "cannot create a run folder under " + settings_.runs_dir);
  auto id = store_->begin_run(
      new_run_record(settings_.file, s.name + "-capacity", s.params, run_dir_, time_));
  if (!id) return id.error();
  run_id_ = *id;
  say("capacity search on " + s.name + " (run " + std::to_string(run_id_) + ", " + run_dir_ + ")");
  topology_ = std::make_unique<Topology>(s, run_dir_, self_executable(), supervisor_, time_);
  if (auto started = topology_->start(); !started) return started;
  std::ofstream(run_dir_ + "/endpoints.json")
      << topology_->endpoints().to_json(supervisor_) << "\n";
  int count = 1;
  for (const auto& p : s.phases) count = std::max(count, p.tokens);
  // The search can run for many minutes: tokens that outlive it.
  auto tokens = topology_->mint_tokens(
      count, std::chrono::duration_cast<std::chrono::seconds>(s.topology.token_ttl));
  if (!tokens) return tokens.error();
  tokens_ = std::move(*tokens);
  std::vector<std::string> nodes;
  for (const auto& g : topology_->endpoints().gateways) nodes.push_back(g.name);
  recorder_ = std::make_unique<RunRecorder>(store_.get(), run_id_, nodes);
  // The memory the held connections cost is measured against the gateways at rest.
  for (const auto& g : topology_->endpoints().gateways) {
    ProcessStats stats;
    if (auto pid = supervisor_.pid(g.name))
      if (auto sample = stats.sample(*pid, time_.monotonic_ns()))
        idle_rss_bytes_ += sample->rss_bytes;
  }
  return {};
}

void CapacityRun::status(int index, double rate, const SampleRecord& sample,
                         const Histogram& latency) {
  // In a log (CI) the line per step that follows is enough.
  if (!settings_.status_line || !terminal_) return;
  char line[256];
  std::snprintf(line, sizeof line,
                "step %2d  %9.0f req/s asked  %9lld done  p50 %8s  p99 %8s  errors %5.2f%%", index,
                rate, static_cast<long long>(sample.requests),
                format_duration(std::chrono::nanoseconds(latency.percentile(50))).c_str(),
                format_duration(std::chrono::nanoseconds(latency.percentile(99))).c_str(),
                sample.requests > 0 ? 100.0 * static_cast<double>(sample.errors) /
                                          static_cast<double>(sample.requests)
                                    : 0.0);
  std::fprintf(stderr, "\r\033[K%s", line);
  std::fflush(stderr);
}

Result<CapacityStep> CapacityRun::measure(int index, double rate) {
  const Scenario& s = script_->scenario();
  const Endpoints& endpoints = topology_->endpoints();
  char name[64];
  std::snprintf(name, sizeof name, "step-%02d-%.0f", index, rate);
  const std::string phase = name;
  const int64_t first_second = next_second_;
  const double share = 1.0 / static_cast<double>(endpoints.gateways.size());
  const int64_t step_seconds = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(settings_.step_duration).count());

  struct NodeLoad {
    std::string node;
    std::unique_ptr<LoadGenerator> generator;
    std::thread thread;
    Result<LoadSummary> outcome = make_error("not_run", "not run");
  };
  std::vector<NodeLoad> loads(endpoints.gateways.size());
  int connections = 0;
  for (size_t i = 0; i < loads.size(); ++i) {
    LoadRequestSpec request;
    request.url = endpoints.gateways[i].url + s.topology.path;
    request.ca_file = endpoints.ca_bundle;
    request.bearer_tokens = tokens_;
    LoadOptions options;
    options.connections = connections_for(rate * share);
    connections += options.connections;
    loads[i].node = endpoints.gateways[i].name;
    loads[i].generator = std::make_unique<LoadGenerator>(time_, request, options);
  }
  std::vector<LoadPhase> phases = {{phase, rate * share, -1, std::chrono::seconds(step_seconds)}};
  recorder_->on_all_second(
      [this, index, rate](const SampleRecord& sample, const Histogram& latency) {
        status(index, rate, sample, latency);
      });
  std::atomic<bool> stop{false};
  std::atomic<int> running{static_cast<int>(loads.size())};
  // CPU over the whole step: a sample before (the baseline) and one after, per gateway.
  std::map<std::string, ProcessStats> cpu;
  for (const auto& g : endpoints.gateways)
    if (auto pid = supervisor_.pid(g.name)) (void)cpu[g.name].sample(*pid, time_.monotonic_ns());
  int64_t started_ms = time_.wall_ms();
  for (auto& l : loads) {
    l.thread = std::thread([&, first_second] {
      l.outcome = l.generator->run(
          phases,
          [&](const IntervalStats& interval) {
            SecondStats second = to_second_stats(interval);
            second.second += first_second;
            recorder_->record(l.node, second);
          },
          &stop);
      running.fetch_sub(1);
    });
  }
  while (running.load() > 0) {
    if (signals_.poll() != 0) {
      interrupted_ = true;
      stop = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the poll's tick, not a sync
  }
  for (auto& l : loads) l.thread.join();
  double gateway_cpu_pct = 0;
  int64_t gateway_rss = 0;
  for (const auto& g : endpoints.gateways) {
    if (auto pid = supervisor_.pid(g.name)) {
      if (auto sample = cpu[g.name].sample(*pid, time_.monotonic_ns())) {
        gateway_cpu_pct += sample->cpu_pct;
        gateway_rss += sample->rss_bytes;
      }
    }
  }
  if (settings_.status_line && terminal_) std::fputc('\n', stderr);
  store_->add_phase({run_id_, index, phase, started_ms, time_.wall_ms(), rate});
  next_second_ = first_second + step_seconds;
  for (auto& l : loads)
    if (!l.outcome)
      return make_error(l.outcome.error().code, l.node + ": " + l.outcome.error().message);
  if (interrupted_) return make_error("interrupted", "interrupted");

  // Judge the step without its first second (new connections, TLS handshakes) when it is long
  // enough to spare it.
  int64_t judged_from = first_second + (step_seconds >= 3 ? 1 : 0);
  auto in_step = [&](int64_t second, const std::string&) {
    return second >= judged_from && second < next_second_;
  };
  WindowStats stats = recorder_->window(kAllNodes, in_step);
  CapacityStep step;
  step.rate = rate;
  step.achieved_rps = stats.seconds > 0 ? static_cast<double>(stats.requests) / stats.seconds : 0;
  step.p50_ns = metric_value(stats, "p50");
  step.p99_ns = metric_value(stats, "p99");
  step.error_rate = metric_value(stats, "error_rate");
  step.gateway_cpu_pct = gateway_cpu_pct;
  step.gateway_rss_bytes = gateway_rss;
  step.connections = connections;
  std::vector<double> p99s;
  for (int64_t sec = judged_from; sec < next_second_; ++sec) {
    auto one =
        recorder_->window(kAllNodes, [sec](int64_t s2, const std::string&) { return s2 == sec; });
    if (one.requests > 0) p99s.push_back(metric_value(one, "p99"));
  }
  if (p99s.size() >= 2) {
    std::sort(p99s.begin(), p99s.end());
    double median = p99s[p99s.size() / 2];
    step.p99_spread = median > 0 ? (p99s.back() - p99s.front()) / median : 0;
  }
  step.pass = stats.requests > 0;
  if (stats.requests == 0) step.broken.push_back("no request completed");
  // An open-loop generator that could not keep the rate has hit the limit too.
  if (step.achieved_rps < 0.95 * rate) {
    step.pass = false;
    step.broken.push_back("achieved " + std::to_string(static_cast<int64_t>(step.achieved_rps)) +
                          " req/s");
  }
  for (const auto& slo : settings_.slos) {
    double observed = metric_value(stats, slo.metric);
    bool ok = threshold_passes(slo, observed);
    store_->add_threshold({run_id_, phase + "." + slo.text, observed,
                           format_metric(slo.metric, observed), ok, false});
    if (!ok) {
      step.pass = false;
      step.broken.push_back(slo.metric + " " + format_metric(slo.metric, observed));
    }
  }
  return step;
}

void CapacityRun::print_table(const CapacitySearch& search) const {
  std::printf("\n%-4s  %10s  %10s  %9s  %9s  %8s  %-16s  %8s  %9s  %s\n", "step", "rate",
              "achieved", "p50", "p99", "errors", "p99 spread", "gw cores", "gw RSS", "verdict");
  int i = 0;
  std::vector<CapacityStep> by_rate = search.steps();
  for (const auto& s : by_rate) {
    std::string verdict = s.pass ? "ok" : "broke:";
    for (const auto& b : s.broken) verdict += " " + b;
    char spread[32];
    std::snprintf(spread, sizeof spread, "%.0f%% (%s)", 100 * s.p99_spread,
                  p99_confidence(s.p99_spread));
    std::printf("%-4d  %10.0f  %10.0f  %9s  %9s  %7.2f%%  %-16s  %8.2f  %7.1fMiB  %s\n", ++i,
                s.rate, s.achieved_rps,
                format_duration(std::chrono::nanoseconds(static_cast<int64_t>(s.p50_ns))).c_str(),
                format_duration(std::chrono::nanoseconds(static_cast<int64_t>(s.p99_ns))).c_str(),
                100 * s.error_rate, spread, s.gateway_cpu_pct / 100,
                static_cast<double>(s.gateway_rss_bytes) / (1 << 20), verdict.c_str());
  }
  std::sort(by_rate.begin(), by_rate.end(),
            [](const auto& a, const auto& b) { return a.rate < b.rate; });
  std::printf("\nlatency vs throughput (by rate):\n");
  for (const auto& s : by_rate)
    std::printf("  %10.0f req/s  p99 %9s  %s\n", s.rate,
                format_duration(std::chrono::nanoseconds(static_cast<int64_t>(s.p99_ns))).c_str(),
                s.pass ? "" : "x");
}

int CapacityRun::execute() {
  std::string verdict = "error";
  int exit_code = kExitError;
  CapacitySearch search(settings_.search);
  if (auto prepared = prepare(); !prepared) {
    say("error: " + prepared.error().message);
  } else {
    std::string slos;
    for (const auto& s : settings_.slos) slos += (slos.empty() ? "" : ", ") + s.text;
    say("SLO: " + slos + "; steps of " + format_duration(settings_.step_duration) + ", from " +
        std::to_string(static_cast<int64_t>(settings_.search.start)) + " req/s");
    Result<void> failed;
    int index = 0;
    while (auto rate = search.next_rate()) {
      auto step = measure(++index, *rate);
      // A step that broke the SLO while its seconds disagreed wildly (a neighbour's burst on a
      // shared machine) is measured once more; the second verdict counts. Both are stored.
      if (step && !step->pass && step->p99_spread >= kUnstableSpread &&
          step->achieved_rps >= 0.95 * *rate) {
        say("step " + std::to_string(index) + ": p99 unstable (spread " +
            std::to_string(static_cast<int>(100 * step->p99_spread)) + "%), measuring again");
        step = measure(++index, *rate);
      }
      if (!step) {
        failed = step.error();
        break;
      }
      say("step " + std::to_string(index) + ": " + std::to_string(static_cast<int64_t>(*rate)) +
          " req/s -> p99 " +
          format_duration(std::chrono::nanoseconds(static_cast<int64_t>(step->p99_ns))) +
          (step->pass ? ", ok" : ", broke the SLO"));
      search.record(*step);
    }
    print_table(search);
    if (!failed) {
      say(interrupted_ ? "interrupted" : "error: " + failed.error().message);
      verdict = interrupted_ ? "aborted" : "error";
    } else if (auto best = search.sustainable()) {
      const CapacityStep* at = nullptr;
      for (const auto& s : search.steps())
        if (s.rate == *best) at = &s;
      std::printf(
          "\nhighest sustainable rate: %.0f req/s (p99 %s, p99 spread %.0f%%, confidence %s)%s\n",
          *best,
          format_duration(std::chrono::nanoseconds(static_cast<int64_t>(at ? at->p99_ns : 0)))
              .c_str(),
          at ? 100 * at->p99_spread : 0.0, at ? p99_confidence(at->p99_spread) : "none",
          search.reached_max() ? " -- the --max rate; the limit is higher"
          : search.breaking()
              ? ("; broke at " + std::to_string(static_cast<int64_t>(*search.breaking())) +
                 " req/s")
                    .c_str()
              : "");
      std::string note = "{\"sustainable_rps\":" + std::to_string(static_cast<int64_t>(*best));
      if (at) {
        CapacitySizing sizing = capacity_sizing(
            *at, static_cast<int>(topology_->endpoints().gateways.size()), idle_rss_bytes_);
        std::fputs(format_sizing(sizing).c_str(), stdout);
        note += ",\"gateway_cpu_pct\":" + std::to_string(at->gateway_cpu_pct) +
                ",\"rps_per_node\":" + std::to_string(sizing.rps_per_node) +
                ",\"cores_per_5k_rps\":" + std::to_string(sizing.cores_per_5k_rps) +
                ",\"connections_per_node\":" + std::to_string(sizing.connections_per_node) +
                ",\"bytes_per_connection\":" + std::to_string(sizing.bytes_per_connection) +
                ",\"p99_confidence\":\"" + sizing.p99_confidence + "\"";
      }
      store_->add_event({run_id_, time_.wall_ms(), 0, "", "note", "capacity", note + "}"});
      verdict = "pass";
      exit_code = kExitPass;
    } else {
      std::printf("\nno sustainable rate: even %.0f req/s broke the SLO\n",
                  search.steps().empty() ? 0.0 : search.steps().back().rate);
      verdict = "fail";
      exit_code = kExitThresholdFailed;
    }
  }
  if (topology_) topology_->stop();
  if (recorder_) recorder_->finish();
  if (store_ && run_id_ != 0) {
    if (auto ended = store_->end_run(run_id_, verdict, exit_code, time_.wall_ms()); !ended)
      return kExitError;
    std::printf("results: %s (run %lld)\nrun folder: %s\n", settings_.db.c_str(),
                static_cast<long long>(run_id_), run_dir_.c_str());
  }
  return exit_code;
}

}  // namespace

int capacity_command(int argc, char** argv) {
  CapacitySettings settings;
  std::vector<std::string> slo_texts, params;
  std::string step_duration = "10s", precision = "2%";
  bool quiet = false;
  ArgParser args(
      "capacity",
      "Finds the highest arrival rate the scenario's topology sustains within the SLOs: doubles\n"
      "the rate from --start until an SLO breaks, then bisects to within --precision. The\n"
      "topology (and path) come from the scenario; its load phases and faults are not used.\n"
      "Each step is a phase of the stored run. Exit status: 0 found, 99 nothing sustainable,\n"
      "1 error, 2 usage.");
  args.positional("SCENARIO.lua", &settings.file, "the scenario whose topology is measured");
  args.repeated("slo", &slo_texts,
                "an SLO per step, e.g. 'p99<10ms' or 'error_rate<0.1%'; repeatable");
  args.option("start", &settings.search.start, "first rate, requests/s (default 1000)");
  args.option("max", &settings.search.max, "highest rate tried (default 200000)");
  args.option("step-duration", &step_duration,
              "length of each step (default 10s; the first second is not judged)");
  args.option("precision", &precision, "stop bisecting within this share of the rate (default 2%)");
  args.option("db", &settings.db, "results database (default results.db)");
  args.option("runs-dir", &settings.runs_dir, "where the run folder goes (default runs)");
  args.repeated("env", &params, "NAME=VALUE scenario parameter; repeatable (also -e)");
  args.flag("quiet", &quiet, "no live status line");
  accept_short_env_flag(argc, argv);
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  auto usage_error = [&](const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return 2;
  };
  if (!parse_params(params, settings.params)) return 2;
  if (slo_texts.empty()) return usage_error("give at least one --slo, e.g. --slo 'p99<10ms'");
  for (const auto& text : slo_texts) {
    auto slo = parse_slo(text);
    if (!slo) return usage_error(slo.error().message);
    settings.slos.push_back(*slo);
  }
  auto duration = parse_duration(step_duration);
  if (!duration || *duration < std::chrono::seconds(1) || *duration > std::chrono::minutes(10))
    return usage_error("--step-duration must be a duration from 1s to 10m, e.g. 10s");
  settings.step_duration = *duration;
  auto p = parse_slo("error_rate<" + precision);  // the share syntax: "2%" or 0.02
  if (!p || p->limit <= 0 || p->limit >= 0.5)
    return usage_error("--precision must be a share above 0 and below 50%, e.g. 2%");
  settings.search.precision = p->limit;
  if (settings.search.start < 1 || settings.search.start > 5e6)
    return usage_error("--start must be 1..5000000 requests/s");
  if (settings.search.max < settings.search.start || settings.search.max > 5e6)
    return usage_error("--max must be at least --start and at most 5000000");
  settings.status_line = !quiet;

  TerminationSignals signals;
  SystemTimeSource time;
  CapacityRun run(std::move(settings), time, signals);
  return run.execute();
}

}  // namespace gatedrill
