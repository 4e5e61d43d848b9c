#include "scenarios/runner.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "core/http/http_client.hpp"
#include "core/store/results_store.hpp"
#include "core/supervisor/supervisor.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "loadgen/load_generator.hpp"
#include "reports/run_summary.hpp"
#include "scenarios/evaluation.hpp"
#include "scenarios/fault_executor.hpp"
#include "scenarios/gateway_reasons.hpp"
#include "scenarios/process_stats.hpp"
#include "scenarios/run_recorder.hpp"
#include "scenarios/run_support.hpp"
#include "scenarios/scenario_script.hpp"
#include "scenarios/status_line.hpp"
#include "scenarios/topology.hpp"

#ifndef GATEDRILL_GIT_DESCRIBE
#define GATEDRILL_GIT_DESCRIBE "unknown"
#endif

namespace gatedrill {

namespace {

void say(const char* format, const std::string& text) {
  std::fprintf(stderr, format, text.c_str());
}

// One generator per gateway node: each node gets an equal share of every phase's rate, and the
// recorder sees per-node seconds (so thresholds and drills can speak of gw-2 alone).
struct NodeLoad {
  std::string node;
  std::unique_ptr<LoadGenerator> generator;  // for the first segment
  std::vector<LoadPhase> phases;
  LoadRequestSpec request;  // later segments start from it
  LoadOptions options;
  std::string subject;        // the tokens' sub; empty = the IdP's client id
  std::string issuer;         // the IdP minting its tokens (jwt.issuers); empty = "idp"
  bool token_client = false;  // mints tokens at the IdP: one request for the whole run
  std::thread thread;
  Result<LoadSummary> outcome = make_error("not_run", "not run");
};

// Phases that share one generator (and its connections). A new segment starts at a phase that
// mints fresh tokens or sends a different body: its requests are built when it begins, so
// tokens minted then carry the IdP's state at that time (its clock, its signing key).
struct LoadSegment {
  size_t first = 0, count = 0;
  int64_t second_offset = 0;  // seconds of load before the segment
};
std::vector<LoadSegment> load_segments(const Scenario& s) {
  std::vector<LoadSegment> out;
  double seconds = 0;
  for (size_t i = 0; i < s.phases.size(); ++i) {
    const PhaseSpec& p = s.phases[i];
    if (i == 0 || p.fresh_tokens || p.body_bytes != s.phases[i - 1].body_bytes)
      out.push_back({i, 0, static_cast<int64_t>(std::llround(seconds))});
    ++out.back().count;
    seconds += std::chrono::duration<double>(p.duration).count();
  }
  return out;
}

void set_body(LoadRequestSpec& request, int64_t body_bytes) {
  request.method = body_bytes > 0 ? "POST" : "GET";
  request.body = std::string(static_cast<size_t>(body_bytes), 'x');
}

// The registry's bundle fetches per window (its /admin/stats/fetches), for refetch_burst; empty
// when the run has no registry or it does not answer.
RegistryFetches read_registry_fetches(const std::string& registry_url) {
  RegistryFetches out;
  if (registry_url.empty()) return out;
  auto r = http_get(registry_url + "/admin/stats/fetches");
  if (!r || r->status != 200) return out;
  auto doc = parse_json_object(r->body);
  if (!doc) return out;
  auto window = json_int(*doc, "window_ms");
  const auto* windows = doc->if_contains("windows");
  if (!window || !window->has_value() || !windows || !windows->is_array()) return out;
  for (const auto& w : windows->as_array()) {
    if (!w.is_array() || w.as_array().size() != 2 || !w.as_array()[0].is_int64() ||
        !w.as_array()[1].is_int64())
      return {};
    out.windows.emplace_back(w.as_array()[0].as_int64(), w.as_array()[1].as_int64());
  }
  out.window_ms = **window;
  return out;
}

int connections_for(const Scenario& s) {
  int explicit_max = 0;
  double max_rate = 0;
  for (const auto& p : s.phases) {
    explicit_max = std::max(explicit_max, p.connections);
    max_rate = std::max({max_rate, p.rate, p.rate_to});
  }
  if (explicit_max > 0) return std::max(1, explicit_max / s.topology.gateways);
  // Enough connections that each carries at most ~500 requests/s at the peak rate; "max" phases
  // get 16 per node, like wrk's defaults.
  double per_node = max_rate / s.topology.gateways;
  if (max_rate == 0) return 16;
  return static_cast<int>(std::clamp(std::ceil(per_node / 500.0), 2.0, 256.0));
}

class Run {
 public:
  Run(const RunOptions& options, TimeSource& time, TerminationSignals& signals)
      : options_(options), time_(time), signals_(signals), supervisor_(time) {}

  int execute();
  int up(const std::string& endpoints_out);

 private:
  Result<void> prepare();  // script, store, run dir, topology
  Result<void> drive_load();
  // abort_on_fail thresholds over the seconds so far; the first that fails is returned.
  std::optional<std::string> failing_abort_threshold(int64_t elapsed_ms) const;
  int finish(int exit_code, const std::string& verdict);
  void record_event(const std::string& kind, const std::string& name, const std::string& node,
                    int64_t start_ms, int64_t end_ms, const std::string& detail);

  const RunOptions& options_;
  TimeSource& time_;
  TerminationSignals& signals_;
  Supervisor supervisor_;
  std::unique_ptr<ScenarioScript> script_;
  std::unique_ptr<ResultsStore> store_;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<RunRecorder> recorder_;
  std::unique_ptr<FaultExecutor> faults_;
  std::string run_dir_;
  int64_t run_id_ = 0;
  int64_t load_start_ms_ = 0;
  bool interrupted_ = false;
  std::string aborted_by_;  // the abort_on_fail threshold that stopped the run, as judged

  // Gateways' answers by reason: at each window's opening, and over each closed window.
  static std::string window_key(const FaultWindow& w) {
    return w.type + "/" + w.node + "/" + std::to_string(w.start_ms);
  }
  std::map<std::string, std::map<std::string, ReasonCounts>> reasons_before_, window_reasons_;

  std::atomic<bool> tearing_down_{false};
  // Set while the load runs: the supervisor's thread counts restarts into it.
  std::atomic<RunRecorder*> live_recorder_{nullptr};
};

void Run::record_event(const std::string& kind, const std::string& name, const std::string& node,
                       int64_t start_ms, int64_t end_ms, const std::string& detail) {
  if (!store_ || run_id_ == 0) return;
  store_->add_event({run_id_, start_ms, end_ms, node, kind, name, detail});
}

Result<void> Run::prepare() {
  auto script = ScenarioScript::load(options_.scenario_file, options_.params);
  if (!script) return script.error();
  script_ = std::move(*script);
  const Scenario& s = script_->scenario();
  if (options_.validate_only) return {};

  auto store = ResultsStore::open(options_.db_path);
  if (!store) return store.error();
  store_ = std::move(*store);

  run_dir_ = make_run_dir(options_.runs_dir, s.name, time_);
  if (run_dir_.empty())
    return make_error("run_dir", "cannot create a run folder under " + options_.runs_dir);

  auto id =
      store_->begin_run(new_run_record(options_.scenario_file, s.name, s.params, run_dir_, time_));
  if (!id) return id.error();
  run_id_ = *id;

  supervisor_.on_event([this](const ProcessEvent& e) {
    if (tearing_down_) return;
    if (e.kind == ProcessEvent::Kind::kExited)
      record_event("exit", "exit", e.name, e.wall_ms, 0,
                   "{\"exit_status\":" + std::to_string(e.exit_status) + "}");
    else if (e.kind == ProcessEvent::Kind::kRestarting) {
      if (RunRecorder* r = live_recorder_.load())
        r->record_restart(e.name, (e.wall_ms - load_start_ms_) / 1000);
      record_event("restart", "restart", e.name, e.wall_ms, 0, "{}");
    } else if (e.kind == ProcessEvent::Kind::kGaveUp)
      record_event("restart", "gave_up", e.name, e.wall_ms, 0, "{}");
  });

  say("starting %s\n", s.name + " (run " + std::to_string(run_id_) + ", " + run_dir_ + ")");
  topology_ = std::make_unique<Topology>(s, run_dir_, options_.binary, supervisor_, time_);
  if (auto started = topology_->start(); !started) return started;
  std::ofstream(run_dir_ + "/endpoints.json")
      << topology_->endpoints().to_json(supervisor_) << "\n";
  return {};
}

Result<void> Run::drive_load() {
  const Scenario& s = script_->scenario();
  const Endpoints& endpoints = topology_->endpoints();

  int token_count = 1;
  for (const auto& p : s.phases) token_count = std::max(token_count, p.tokens);
  auto tokens = topology_->mint_tokens(
      token_count, std::chrono::duration_cast<std::chrono::seconds>(s.topology.token_ttl));
  if (!tokens) return tokens.error();

  std::vector<std::string> nodes;
  for (const auto& g : endpoints.gateways) nodes.push_back(g.name);
  recorder_ = std::make_unique<RunRecorder>(store_.get(), run_id_, nodes);
  faults_ = std::make_unique<FaultExecutor>(endpoints, supervisor_, time_);
  faults_->set_redis(topology_->redis());
  faults_->set_trust_agent(topology_->trust_agent());
  faults_->set_networks(topology_->networks());
  // Only when an expectation asks for them: a paused or restarting gateway answers /metrics
  // late or not at all, and the timeline must not wait for it.
  bool wants_reasons = false;
  for (const auto& e : s.expectations)
    for (const auto& c : e.conditions)
      wants_reasons = wants_reasons || !reason_of_metric(c.metric).empty();
  faults_->on_window([this, &endpoints, wants_reasons](const FaultWindow& w) {
    // The gateways' answers by reason over each window: counters read as it opens and closes.
    if (wants_reasons && w.end_ms != w.start_ms) {
      std::string key = window_key(w);
      for (const auto& g : endpoints.gateways) {
        auto counts = scrape_reasons(g.admin);
        if (!counts) continue;  // a node that is down answers nothing; its window stays empty
        if (w.end_ms == 0)
          reasons_before_[key][g.name] = std::move(*counts);
        else if (auto before = reasons_before_[key].find(g.name);
                 before != reasons_before_[key].end())
          window_reasons_[key][g.name] = reason_delta(before->second, *counts);
      }
    }
    // A window is stored once it is closed; an instantaneous fault (kill, restart) closes as it
    // opens.
    if (w.end_ms == 0 || w.end_ms == w.start_ms) {
      say("%s\n", "  fault " + w.type + " on " + w.node + (w.end_ms == 0 ? " begins " : " ") +
                      w.detail_json);
    } else {
      say("%s\n", "  fault " + w.type + " on " + w.node + " cleared");
    }
    if (w.end_ms != 0) record_event("fault", w.type, w.node, w.start_ms, w.end_ms, w.detail_json);
  });

  StatusLine status(options_.status_line, s.total_duration());
  recorder_->on_all_second([&status](const SampleRecord& sample, const Histogram& latency) {
    status.second(sample, latency);
  });

  // Build every generator before starting any, so a bad option fails the run cleanly.
  std::vector<NodeLoad> loads(endpoints.gateways.size());
  double share = 1.0 / static_cast<double>(loads.size());
  for (size_t i = 0; i < loads.size(); ++i) {
    NodeLoad& l = loads[i];
    l.node = endpoints.gateways[i].name;
    LoadRequestSpec request;
    request.url = endpoints.gateways[i].url + s.topology.path;
    request.ca_file = endpoints.ca_bundle;
    request.tls_resume = s.topology.tls_resume;
    request.bearer_tokens = *tokens;
    set_body(request, s.phases.front().body_bytes);
    LoadOptions load_options;
    load_options.connections = connections_for(s);
    if (s.topology.tls == "mtls") {
      // Through the mTLS listener with the run's client SVID; each handshake is verified
      // against the node's current trust bundle and CRL (so no session resumption).
      request.url = endpoints.gateways[i].mtls_url + s.topology.path;
      request.client_cert_file = endpoints.client_cert;
      request.client_key_file = endpoints.client_key;
      // A client SVID the trust agent renews during the run (at half its life) is presented
      // from the next handshake; otherwise the load keeps the one it started with until a phase
      // with fresh_tokens builds new generators (ca_roll_intermediate's rolled client).
      request.follow_client_cert = s.topology.pki.client_ttl / 2 < s.total_duration();
      request.tls_resume = false;
      load_options.requests_per_connection = s.topology.pki.requests_per_connection;
    }
    l.request = request;
    l.options = load_options;
    l.generator = std::make_unique<LoadGenerator>(time_, request, load_options);
    for (const auto& p : s.phases)
      l.phases.push_back(
          {p.name, p.rate * share, p.rate_to > 0 ? p.rate_to * share : -1, p.duration});
  }
  // Each further identity: its own stream to every gateway with tokens of its own sub, at the
  // rate each phase gives it (a 1 request/s trickle in phases that give none).
  size_t gateway_loads = loads.size();
  for (const auto& identity : s.topology.identities) {
    auto identity_tokens = topology_->mint_tokens(
        token_count, std::chrono::duration_cast<std::chrono::seconds>(s.topology.token_ttl),
        identity);
    if (!identity_tokens) return identity_tokens.error();
    double peak = 1;
    for (const auto& p : s.phases)
      if (auto it = p.identity_rates.find(identity); it != p.identity_rates.end())
        peak = std::max(peak, it->second);
    for (size_t i = 0; i < gateway_loads; ++i) {
      NodeLoad l;
      l.node = identity + "@" + loads[i].node;
      l.subject = identity;
      l.request = loads[i].request;
      l.request.bearer_tokens = *identity_tokens;
      l.options = loads[i].options;
      l.options.connections =
          static_cast<int>(std::clamp(std::ceil(peak * share / 500.0), 2.0, 256.0));
      l.generator = std::make_unique<LoadGenerator>(time_, l.request, l.options);
      for (const auto& p : s.phases) {
        auto it = p.identity_rates.find(identity);
        l.phases.push_back(
            {p.name, (it == p.identity_rates.end() ? 1.0 : it->second) * share, -1, p.duration});
      }
      loads.push_back(std::move(l));
    }
  }

  // A stream beside each gateway's own load, at a quarter of each phase's rate (or the phase's
  // streams = { name = rate }), recorded as "name@gw-N": `path` replaces the load's path when
  // given; `issuer_tokens` (with the IdP that minted them) replace its tokens.
  auto add_streams = [&](const std::string& name, const std::string& path,
                         const std::string& issuer, const std::vector<std::string>* issuer_tokens) {
    for (size_t i = 0; i < gateway_loads; ++i) {
      NodeLoad l;
      l.node = name + "@" + loads[i].node;
      l.issuer = issuer;
      l.request = loads[i].request;
      if (!path.empty())
        l.request.url =
            l.request.url.substr(0, l.request.url.size() - s.topology.path.size()) + path;
      if (issuer_tokens) l.request.bearer_tokens = *issuer_tokens;
      l.options = loads[i].options;
      l.options.connections = std::max(2, loads[i].options.connections / 4);
      for (const auto& p : s.phases)  // a phase giving the stream more: ~500 requests/s each
        if (auto it = p.stream_rates.find(name); it != p.stream_rates.end())
          l.options.connections = std::max(
              l.options.connections,
              static_cast<int>(std::clamp(std::ceil(it->second * share / 500.0), 2.0, 256.0)));
      l.generator = std::make_unique<LoadGenerator>(time_, l.request, l.options);
      for (const auto& p : s.phases) {
        auto it = p.stream_rates.find(name);
        if (it != p.stream_rates.end())
          l.phases.push_back({p.name, it->second * share, -1, p.duration});
        else
          l.phases.push_back(
              {p.name, p.rate * share / 4, p.rate_to > 0 ? p.rate_to * share / 4 : -1, p.duration});
      }
      loads.push_back(std::move(l));
    }
  };
  // Each further registry service on its route (the app's path + "/name").
  for (const auto& service : s.topology.registry.services)
    add_streams(service, s.topology.path + "/" + service, "", nullptr);
  // Each upstream cluster on its first route.
  for (const auto& cluster : s.topology.upstreams)
    add_streams(cluster.name, s.first_route(cluster.name), "", nullptr);
  // Each further issuer with tokens of its own IdP, on the load's path.
  for (const auto& issuer : s.topology.issuers) {
    auto issuer_tokens = topology_->mint_tokens(
        token_count, std::chrono::duration_cast<std::chrono::seconds>(s.topology.token_ttl), "",
        issuer);
    if (!issuer_tokens)
      return make_error(issuer_tokens.error().code,
                        "issuer " + issuer + ": " + issuer_tokens.error().message);
    add_streams(issuer, "", issuer, &*issuer_tokens);
  }

  // The token client: what a fleet of clients refreshing their tokens does to the IdP's token
  // endpoint (client_credentials), at a steady rate through every phase.
  if (s.topology.token_client > 0) {
    NodeLoad l;
    l.node = kTokenClientStream;
    l.token_client = true;
    l.request.url = endpoints.token_endpoint;
    l.request.method = "POST";
    l.request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
    l.request.body = "grant_type=client_credentials&client_id=" + endpoints.client_id +
                     "&client_secret=" + endpoints.client_secret;
    l.options.connections = 2;
    l.generator = std::make_unique<LoadGenerator>(time_, l.request, l.options);
    for (const auto& p : s.phases)
      l.phases.push_back({p.name, static_cast<double>(s.topology.token_client), -1, p.duration});
    loads.push_back(std::move(l));
  }

  std::atomic<bool> stop{false};
  std::atomic<int> running{static_cast<int>(loads.size())};
  load_start_ms_ = time_.wall_ms();
  live_recorder_ = recorder_.get();
  int64_t load_start_mono = time_.monotonic_ms();
  for (auto& l : loads) {
    l.thread = std::thread([this, &s, &l, &stop, &running, token_count] {
      std::vector<LoadSegment> segments = load_segments(s);
      // Fresh tokens and bodies are the gateways' load's; the token client's request never changes.
      if (l.token_client) segments = {{0, s.phases.size(), 0}};
      for (const LoadSegment& segment : segments) {
        if (stop.load()) break;
        std::unique_ptr<LoadGenerator> generator = std::move(l.generator);
        if (segment.first > 0) {
          const PhaseSpec& first = s.phases[segment.first];
          if (first.fresh_tokens) {
            auto fresh = topology_->mint_tokens(
                token_count, std::chrono::duration_cast<std::chrono::seconds>(s.topology.token_ttl),
                l.subject, l.issuer);
            if (!fresh) {
              l.outcome = make_error(fresh.error().code, "minting tokens for phase " + first.name +
                                                             ": " + fresh.error().message);
              break;
            }
            l.request.bearer_tokens = std::move(*fresh);
          }
          set_body(l.request, first.body_bytes);
          generator = std::make_unique<LoadGenerator>(time_, l.request, l.options);
        }
        std::vector<LoadPhase> phases(
            l.phases.begin() + static_cast<std::ptrdiff_t>(segment.first),
            l.phases.begin() + static_cast<std::ptrdiff_t>(segment.first + segment.count));
        l.outcome = generator->run(
            phases,
            [this, &l, offset = segment.second_offset](const IntervalStats& interval) {
              SecondStats second = to_second_stats(interval);
              second.second += offset;
              recorder_->record(l.node, second);
            },
            &stop);
        if (!l.outcome) break;
      }
      running.fetch_sub(1);
    });
  }
  int64_t phase_start_ms = load_start_ms_;
  for (size_t i = 0; i < s.phases.size(); ++i) {
    int64_t length_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(s.phases[i].duration).count();
    store_->add_phase({run_id_, static_cast<int>(i), s.phases[i].name, phase_start_ms,
                       phase_start_ms + length_ms,
                       s.phases[i].rate});  // planned times; samples say what happened
    phase_start_ms += length_ms;
  }

  // The timeline loop: faults at their times, expiries, process stats, Ctrl-C.
  Result<void> outcome;
  size_t next_entry = 0;
  int64_t next_stats_second = 0;
  int64_t next_abort_check_ms = 1000;
  std::map<std::string, ProcessStats> process_stats;
  while (running.load() > 0) {
    if (signals_.poll() != 0) {
      interrupted_ = true;
      stop = true;
      say("%s\n", "\ninterrupted: stopping the load and tearing down");
      break;
    }
    int64_t elapsed_ms = time_.monotonic_ms() - load_start_mono;
    while (
        next_entry < s.timeline.size() &&
        std::chrono::duration_cast<std::chrono::milliseconds>(s.timeline[next_entry].at).count() <=
            elapsed_ms) {
      if (auto ran = script_->run_timeline_entry(s.timeline[next_entry], *faults_);
          !ran && outcome.ok()) {
        outcome = ran.error();
        stop = true;
      }
      ++next_entry;
    }
    faults_->clear_expired();
    if (elapsed_ms >= next_abort_check_ms) {
      next_abort_check_ms += 1000;
      if (auto failing = failing_abort_threshold(elapsed_ms)) {
        aborted_by_ = *failing;
        stop = true;
        say("%s\n", "\nthreshold failed with abort_on_fail: " + aborted_by_ + "; stopping the run");
        record_event(
            "threshold_breach", "abort_on_fail", "", time_.wall_ms(), 0,
            "{\"threshold\":" + boost::json::serialize(boost::json::value(aborted_by_)) + "}");
        break;
      }
    }
    if (elapsed_ms >= next_stats_second * 1000) {
      for (const auto& g : endpoints.gateways) {
        if (auto pid = supervisor_.pid(g.name))
          if (auto sample = process_stats[g.name].sample(*pid, time_.monotonic_ns()))
            recorder_->record_process(g.name, next_stats_second, sample->cpu_pct,
                                      sample->rss_bytes);
      }
      ++next_stats_second;
    }
    // The loop's tick: timeline entries are due at whole milliseconds; 20 ms is precise enough.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& l : loads) l.thread.join();
  status.finish();
  faults_->clear_all();
  recorder_->finish();
  if (!outcome) return outcome;
  for (auto& l : loads)
    if (!l.outcome)
      return make_error(l.outcome.error().code, l.node + ": " + l.outcome.error().message);
  return {};
}

std::optional<std::string> Run::failing_abort_threshold(int64_t elapsed_ms) const {
  const Scenario& s = script_->scenario();
  for (const auto& t : s.thresholds) {
    if (!t.abort_on_fail ||
        elapsed_ms < std::chrono::duration_cast<std::chrono::milliseconds>(t.abort_delay).count())
      continue;
    std::string node = t.node.empty() ? kAllNodes : t.node;
    auto stats = recorder_->window(node, [&](int64_t, const std::string& phase) {
      return t.phase.empty() || phase == t.phase;
    });
    if (stats.requests == 0) continue;  // its phase has not begun
    double observed = metric_value(stats, t.metric);
    if (!threshold_passes(t, observed))
      return t.text + " (observed " + format_metric(t.metric, observed) + ")";
  }
  return std::nullopt;
}

int Run::finish(int exit_code, const std::string& verdict) {
  tearing_down_ = true;
  if (topology_) topology_->stop();
  if (!store_ || run_id_ == 0) return exit_code;
  if (auto ended = store_->end_run(run_id_, verdict, exit_code, time_.wall_ms()); !ended) {
    say("error: %s\n", ended.error().message);
    return kExitError;
  }
  if (auto reader = ResultsReader::open(options_.db_path)) {
    if (auto summary = summarize_run(**reader, run_id_)) {
      std::string text = format_run_summary(*summary);
      std::fputs(text.c_str(), stdout);
      std::ofstream(run_dir_ + "/summary.txt") << text;
    }
  }
  std::printf("\nresults: %s (run %lld)\nrun folder: %s (summary.txt, endpoints.json, logs/)\n",
              options_.db_path.c_str(), static_cast<long long>(run_id_), run_dir_.c_str());
  std::printf("verdict: %s\n", verdict.c_str());
  return exit_code;
}

int Run::execute() {
  if (auto prepared = prepare(); !prepared) {
    say("error: %s\n", prepared.error().message);
    return finish(kExitError, "error");
  }
  if (options_.validate_only) {
    const Scenario& s = script_->scenario();
    std::printf(
        "%s: ok (%zu phases, %s of load, %zu timeline entries, %zu thresholds, %zu expectations)\n",
        options_.scenario_file.c_str(), s.phases.size(),
        format_duration(s.total_duration()).c_str(), s.timeline.size(), s.thresholds.size(),
        s.expectations.size());
    return kExitPass;
  }
  if (auto driven = drive_load(); !driven) {
    say("error: %s\n", driven.error().message);
    return finish(kExitError, "error");
  }
  if (interrupted_) return finish(kExitError, "aborted");

  std::vector<FaultWindow> windows = faults_->windows();
  for (auto& w : windows) w.reasons = window_reasons_[window_key(w)];
  auto outcomes =
      evaluate_run(script_->scenario(), *recorder_, windows, load_start_ms_, run_dir_ + "/logs",
                   read_registry_fetches(topology_->endpoints().registry.url));
  bool all_pass = true;
  for (const auto& o : outcomes) {
    all_pass = all_pass && o.pass;
    store_->add_threshold({run_id_, o.text, o.observed, o.observed_text, o.pass, o.abort_on_fail});
  }
  // Stopped early by an abort_on_fail threshold: a failed run, like k6's exit 99.
  if (!aborted_by_.empty()) return finish(kExitThresholdFailed, "aborted");
  return all_pass ? finish(kExitPass, "pass") : finish(kExitThresholdFailed, "fail");
}

int Run::up(const std::string& endpoints_out) {
  if (auto prepared = prepare(); !prepared) {
    say("error: %s\n", prepared.error().message);
    return finish(kExitError, "error");
  }
  std::string json = topology_->endpoints().to_json(supervisor_);
  if (!endpoints_out.empty()) {
    std::ofstream out(endpoints_out);
    out << json << "\n";
    if (!out) {
      say("error: cannot write %s\n", endpoints_out);
      return finish(kExitError, "error");
    }
  }
  std::printf("topology is up (Ctrl-C to stop):\n%s", topology_->endpoints().describe().c_str());
  if (!endpoints_out.empty()) std::printf("  endpoints written to %s\n", endpoints_out.c_str());
  std::fflush(stdout);
  signals_.wait();
  say("%s\n", "stopping");
  tearing_down_ = true;
  topology_->stop();
  (void)store_->end_run(run_id_, "pass", 0, time_.wall_ms());
  return kExitPass;
}

}  // namespace

int run_scenario(const RunOptions& options, TimeSource& time, TerminationSignals& signals) {
  Run run(options, time, signals);
  return run.execute();
}

int run_topology(const RunOptions& options, const std::string& endpoints_out, TimeSource& time,
                 TerminationSignals& signals) {
  Run run(options, time, signals);
  return run.up(endpoints_out);
}

}  // namespace gatedrill
