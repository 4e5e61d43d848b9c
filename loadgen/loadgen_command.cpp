#include "loadgen/loadgen_command.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "loadgen/interval_wire.hpp"
#include "loadgen/load_generator.hpp"
#include "loadgen/process_pool.hpp"
#include "loadgen/request_plan.hpp"
#include "loadgen/run_store.hpp"
#include "loadgen/schedule.hpp"

namespace gatedrill {
namespace {

constexpr double kPercentiles[] = {50, 75, 90, 99, 99.9, 99.99};

// HdrHistogram tools read standard base64 (RFC 4648 section 4, padded).
std::string base64_standard(std::string_view bytes) {
  std::string out = base64url_encode(bytes);
  for (char& c : out) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (out.size() % 4 != 0) out += '=';
  return out;
}

std::string fmt_ns(int64_t ns) {
  return format_duration(std::chrono::nanoseconds(ns));
}

Result<std::vector<std::string>> read_tokens(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("bad_options", "cannot read token file '" + path + "'");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = trim(line);
    if (!t.empty() && t[0] != '#') tokens.emplace_back(t);
  }
  if (tokens.empty()) return make_error("bad_options", "token file '" + path + "' holds no tokens");
  return tokens;
}

Result<HeaderList> parse_headers(const std::vector<std::string>& raw) {
  HeaderList out;
  for (const auto& h : raw) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      return make_error("bad_options", "--header '" + h + "' must look like 'Name: value'");
    out.emplace_back(std::string(trim(std::string_view(h).substr(0, colon))),
                     std::string(trim(std::string_view(h).substr(colon + 1))));
  }
  return out;
}

// A number in 0..1 for `flag`.
Result<double> parse_fraction(const std::string& text, const char* flag, const char* what) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v >= 0 && v <= 1))
    return make_error("bad_options",
                      std::string(flag) + " must be " + what + " in 0..1, got '" + text + "'");
  return v;
}

boost::json::object histogram_json(const Histogram& h) {
  boost::json::object o;
  o["count"] = h.count();
  o["min_ns"] = h.min();
  o["max_ns"] = h.max();
  o["mean_ns"] = h.mean();
  o["stddev_ns"] = h.stddev();
  boost::json::object p;
  for (double q : kPercentiles) {
    std::ostringstream key;
    key << q;
    p[key.str()] = h.percentile(q);
  }
  o["percentiles_ns"] = std::move(p);
  o["hdr_base64"] = base64_standard(h.encode());
  return o;
}

boost::json::object totals_json(const LoadTotals& t) {
  boost::json::object o;
  loadgen::put_count_fields(o, t);
  o["latency"] = histogram_json(t.latency);
  o["latency_actual"] = histogram_json(t.latency_actual);
  return o;
}

std::string summary_json(const std::string& url, const LoadOptions& options, int processes,
                         const std::vector<LoadPhase>& phases, const LoadSummary& s) {
  boost::json::object o;
  o["url"] = url;
  o["processes"] = processes;
  o["connections"] = options.connections;
  o["threads"] = options.threads;
  o["elapsed_s"] = static_cast<double>(s.elapsed.count()) / 1e9;
  o["achieved_rps"] = s.achieved_rps();
  o["stopped"] = s.stopped;
  o["first_error"] = s.first_error;
  o["totals"] = totals_json(s.totals);
  boost::json::array ph;
  for (size_t i = 0; i < s.phases.size(); ++i) {
    boost::json::object p = totals_json(s.phases[i].totals);
    p["name"] = s.phases[i].name;
    p["rate"] = phases[i].rate;
    p["rate_to"] = phases[i].rate_to;
    p["duration_s"] = static_cast<double>(phases[i].duration.count()) / 1e9;
    ph.push_back(std::move(p));
  }
  o["phases"] = std::move(ph);
  boost::json::array seconds;
  for (const auto& in : s.intervals) {
    boost::json::object x;
    x["second"] = in.second;
    x["phase"] = in.phase;
    x["target_rate"] = in.target_rate;
    loadgen::put_count_fields(x, in);
    x["p50_ns"] = in.latency.percentile(50);
    x["p99_ns"] = in.latency.percentile(99);
    x["max_ns"] = in.latency.max();
    x["actual_p99_ns"] = in.latency_actual.percentile(99);
    seconds.push_back(std::move(x));
  }
  o["intervals"] = std::move(seconds);
  return boost::json::serialize(o);
}

void print_summary(const LoadSummary& s) {
  const LoadTotals& t = s.totals;
  std::printf("  Latency       corrected (from planned send)   uncorrected (from actual send)\n");
  for (double q : kPercentiles)
    std::printf("  %8.3f%%    %12s                    %12s\n", q,
                fmt_ns(t.latency.percentile(q)).c_str(),
                fmt_ns(t.latency_actual.percentile(q)).c_str());
  std::printf("  %9s    %12s                    %12s\n", "max", fmt_ns(t.latency.max()).c_str(),
              fmt_ns(t.latency_actual.max()).c_str());
  std::printf("  %9s    %12s                    %12s\n", "mean",
              fmt_ns(static_cast<int64_t>(t.latency.mean())).c_str(),
              fmt_ns(static_cast<int64_t>(t.latency_actual.mean())).c_str());
  if (s.phases.size() > 1) {
    std::printf("  Phases:\n");
    for (const auto& p : s.phases)
      std::printf("    %-12s %lld completed, p50 %s, p99 %s\n", p.name.c_str(),
                  static_cast<long long>(p.totals.completed),
                  fmt_ns(p.totals.latency.percentile(50)).c_str(),
                  fmt_ns(p.totals.latency.percentile(99)).c_str());
  }
  std::printf("  %lld requests in %s, %lld sent\n", static_cast<long long>(t.completed),
              fmt_ns(s.elapsed.count()).c_str(), static_cast<long long>(t.sent));
  std::string status;
  for (const auto& [code, count] : t.status_counts)
    status += (status.empty() ? "" : ", ") + std::to_string(code) + ": " + std::to_string(count);
  std::printf("  Status: %s\n", status.empty() ? "none" : status.c_str());
  std::printf("  Errors: connect %lld, timeout %lld, io %lld\n",
              static_cast<long long>(t.connect_errors), static_cast<long long>(t.timeouts),
              static_cast<long long>(t.errors));
  if (t.tls_handshakes > 0)
    std::printf("  TLS handshakes: %lld (%lld resumed)\n", static_cast<long long>(t.tls_handshakes),
                static_cast<long long>(t.tls_resumed));
  if (!s.first_error.empty()) std::printf("  First error: %s\n", s.first_error.c_str());
  std::printf("Requests/sec: %.2f\n", s.achieved_rps());
}

Result<std::unique_ptr<loadgen::WorkerStore>> open_store(
    const std::string& path, const std::string& node, const std::string& url,
    const std::string& rate, const LoadOptions& options, int processes,
    const std::vector<LoadPhase>& phases, TimeSource& time) {
  RunRecord run;
  run.scenario = "loadgen";
  run.name = node.empty() ? "loadgen" : node;
  run.git_describe = GATEDRILL_VERSION;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  run.host = host;
  run.started_ms = time.wall_ms();
  boost::json::object params;
  params["url"] = url;
  params["rate"] = rate;
  params["connections"] = options.connections;
  params["threads"] = options.threads;
  params["processes"] = processes;
  run.params_json = boost::json::serialize(params);
  run.verdict = "running";
  std::vector<std::string> nodes{"all"};
  if (!node.empty() && node != "all") nodes.push_back(node);
  return loadgen::WorkerStore::open(path, run, phases, nodes);
}

}  // namespace

int loadgen_command(int argc, char** argv) {
  std::string url, rate_text, rate_to_text, duration_text, steps_text, token_file,
      method = "GET", body_size = "0", jitter_text = "0";
  std::string cacert, timeout_text = "2s", connect_timeout_text = "1s", json_path;
  std::string cert, key, sni, bad_token_file, bad_share_text = "0", store_path, node;
  bool worker = false, h2 = false;
  std::vector<std::string> raw_paths;
  int64_t connections = 16, threads = 1, handshake_every = 0, processes = 1, streams = 1,
          pipeline = 1;
  std::vector<std::string> raw_headers;
  bool insecure = false, quiet = false, no_resume = false, new_conn_per_request = false;

  ArgParser args(
      "loadgen",
      "Open-loop HTTP/1.1 or HTTP/2 load at a fixed rate (or as fast as possible), latency "
      "corrected for "
      "coordinated omission like wrk2. Exit 0 when any response came back, 1 when none did or the "
      "run "
      "failed, 2 on bad usage.");
  args.positional("URL", &url, "http://host:port/path or https://...");
  args.option("rate", &rate_text, "requests/s over all connections, or 'max' (closed loop) [max]");
  args.option("rate-to", &rate_to_text, "ramp linearly from --rate to this rate over the duration");
  args.option("duration", &duration_text, "how long to send, e.g. 30s, 2m [10s]");
  args.option("steps", &steps_text,
              "stepped load instead of --rate/--duration: RATE:DURATION,... run back to back, "
              "e.g. 10000:5s,20000:5s,40000:10s (a RATE may be 'max')");
  args.option("jitter", &jitter_text,
              "move each planned send randomly by up to +-F/2 of its connection's gap to the "
              "next (0..1), against microbursts; latency counts from the moved time [0: off]");
  args.option("connections", &connections, "keep-alive connections [16]");
  args.option("threads", &threads,
              "event-loop threads, each with its share of the connections [1]");
  args.option("processes", &processes,
              "worker processes, each with --threads threads and its share of the connections "
              "and rate; their histograms are merged exactly [1]");
  args.flag("h2", &h2,
            "HTTP/2: ALPN h2 over https://, prior knowledge (h2c) over http:// [HTTP/1.1]");
  args.option("streams", &streams, "with --h2: concurrent streams per connection [1]");
  args.option("pipeline", &pipeline,
              "HTTP/1.1 requests in flight per connection, answered in order [1]");
  args.repeated("header", &raw_headers, "extra request header 'Name: value' (repeatable)");
  args.option("token-file", &token_file,
              "file with one JWT per line, sent as Bearer tokens in rotation");
  args.option("bad-token-share", &bad_share_text,
              "share (0..1) of requests with a token the target must refuse: from "
              "--bad-token-file, else a --token-file token with a corrupted signature [0]");
  args.option("bad-token-file", &bad_token_file,
              "invalid or expired JWTs, one per line, for --bad-token-share");
  args.repeated("path", &raw_paths,
                "request this path instead of the URL's, with a weight: --path /a:3 --path /b:1 "
                "(repeatable)");
  args.option("method", &method, "request method [GET]");
  args.option("body-size", &body_size, "request body of this many bytes, e.g. 512, 4k [0]");
  args.option("cacert", &cacert, "verify the server against the CA certificates in this PEM file");
  args.flag("insecure", &insecure, "do not verify the server certificate");
  args.option("cert", &cert, "client certificate (PEM, may hold the chain) for mTLS");
  args.option("key", &key, "private key (PEM) of --cert");
  args.option("sni", &sni,
              "TLS server name to send and to check the certificate against [the URL's host]");
  args.flag("no-resume", &no_resume, "no TLS session resumption: every handshake is a full one");
  args.option("handshake-every", &handshake_every,
              "open a new connection (and TLS handshake) after every N responses [0: keep-alive]");
  args.flag("new-conn-per-request", &new_conn_per_request, "same as --handshake-every 1");
  args.option("timeout", &timeout_text, "per-request timeout [2s]");
  args.option("connect-timeout", &connect_timeout_text, "TCP connect + TLS handshake timeout [1s]");
  args.option("json", &json_path,
              "write everything (totals, phases, seconds, HDR histograms) to this file");
  args.flag("quiet", &quiet, "no live status line");
  args.option("store", &store_path,
              "record the run (every second's counts and HDR histograms) in this SQLite results "
              "store; `gatedrill merge` combines the stores of several workers exactly");
  args.option("node", &node,
              "in --store, also record the seconds under this node name (besides 'all')");
  args.flag("worker", &worker,
            "a worker of a distributed run: needs --store; no status line or summary, one JSON "
            "line with the run id and totals at the end");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;

  auto usage_error = [](const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message.c_str());
    return 2;
  };
  std::vector<LoadPhase> phases;
  if (!steps_text.empty()) {
    if (!rate_text.empty() || !rate_to_text.empty() || !duration_text.empty())
      return usage_error(
          make_error("bad_options",
                     "--steps replaces --rate, --rate-to and --duration; give one or the other"));
    auto steps = loadgen::parse_steps(steps_text);
    if (!steps) return usage_error(steps.error());
    for (const auto& step : *steps)
      phases.push_back({"step" + std::to_string(phases.size() + 1), step.rate, -1,
                        std::chrono::nanoseconds(step.duration_ns)});
    rate_text = steps_text;
  } else {
    if (rate_text.empty()) rate_text = "max";
    auto rate = loadgen::parse_rate(rate_text, "--rate");
    if (!rate) return usage_error(rate.error());
    double rate_to = -1;
    if (!rate_to_text.empty()) {
      auto r = loadgen::parse_rate(rate_to_text, "--rate-to");
      if (!r) return usage_error(r.error());
      if (*rate == 0 || *r == 0)
        return usage_error(
            make_error("bad_options", "--rate-to needs numeric --rate and --rate-to"));
      rate_to = *r;
    }
    auto duration = parse_duration(duration_text.empty() ? "10s" : duration_text);
    if (!duration) return usage_error(duration.error());
    phases.push_back({"main", *rate, rate_to, *duration});
  }
  std::chrono::nanoseconds total_duration{0};
  for (const auto& p : phases) total_duration += p.duration;
  auto jitter = parse_fraction(jitter_text, "--jitter", "a fraction of the gap");
  if (!jitter) return usage_error(jitter.error());
  if (pipeline < 1 || pipeline > 1024)
    return usage_error(make_error("bad_options", "--pipeline must be 1..1024"));
  if (pipeline > 1 && h2)
    return usage_error(
        make_error("bad_options", "--pipeline is for HTTP/1.1; with --h2 use --streams"));
  auto timeout = parse_duration(timeout_text);
  if (!timeout) return usage_error(timeout.error());
  auto connect_timeout = parse_duration(connect_timeout_text);
  if (!connect_timeout) return usage_error(connect_timeout.error());
  auto body_bytes = parse_size(body_size);
  if (!body_bytes) return usage_error(body_bytes.error());
  if (*body_bytes < 0 || *body_bytes > (int64_t{64} << 20))
    return usage_error(make_error("bad_options", "--body-size must be 0..64M"));
  if (insecure && !cacert.empty())
    return usage_error(make_error("bad_options", "--cacert and --insecure exclude each other"));
  if (connections < 1 || connections > 100000 || threads < 1 || threads > 256)
    return usage_error(
        make_error("bad_options", "--connections must be 1..100000 and --threads 1..256"));
  if (processes < 1 || processes > 64 || processes > connections)
    return usage_error(make_error("bad_options", "--processes must be 1..64 and <= --connections"));

  if (cert.empty() != key.empty())
    return usage_error(make_error("bad_options", "--cert and --key go together"));
  if (handshake_every < 0 || handshake_every > 1'000'000'000)
    return usage_error(make_error("bad_options", "--handshake-every must be >= 0"));
  if (new_conn_per_request && handshake_every > 1)
    return usage_error(make_error(
        "bad_options", "--new-conn-per-request and --handshake-every N exclude each other"));
  if (new_conn_per_request) handshake_every = 1;
  if (streams < 1 || streams > 1000)
    return usage_error(make_error("bad_options", "--streams must be 1..1000"));
  if (streams > 1 && !h2) return usage_error(make_error("bad_options", "--streams needs --h2"));
  if (worker && store_path.empty())
    return usage_error(make_error("bad_options", "--worker needs --store F"));
  if (!node.empty() && store_path.empty())
    return usage_error(make_error("bad_options", "--node needs --store F"));
  if (worker) quiet = true;

  LoadRequestSpec spec;
  spec.url = url;
  spec.method = method;
  auto headers = parse_headers(raw_headers);
  if (!headers) return usage_error(headers.error());
  spec.headers = std::move(*headers);
  spec.body.assign(static_cast<size_t>(*body_bytes), 'x');
  if (!token_file.empty()) {
    auto tokens = read_tokens(token_file);
    if (!tokens) return usage_error(tokens.error());
    spec.bearer_tokens = std::move(*tokens);
  }
  auto share = parse_fraction(bad_share_text, "--bad-token-share", "a number");
  if (!share) return usage_error(share.error());
  spec.bad_token_share = *share;
  if (spec.bad_token_share > 0 && spec.bearer_tokens.empty())
    return usage_error(make_error("bad_options", "--bad-token-share needs --token-file"));
  if (!bad_token_file.empty()) {
    auto tokens = read_tokens(bad_token_file);
    if (!tokens) return usage_error(tokens.error());
    spec.bad_bearer_tokens = std::move(*tokens);
  }
  for (const auto& raw : raw_paths) {
    auto path = loadgen::parse_weighted_path(raw);
    if (!path) return usage_error(path.error());
    spec.paths.push_back(std::move(*path));
  }
  spec.ca_file = cacert;
  spec.insecure = insecure;
  spec.client_cert_file = cert;
  spec.client_key_file = key;
  spec.sni = sni;
  spec.tls_resume = !no_resume;

  LoadOptions options;
  options.connections = static_cast<int>(connections);
  options.threads = static_cast<int>(threads);
  options.requests_per_connection = static_cast<int>(handshake_every);
  options.h2 = h2;
  options.streams = static_cast<int>(streams);
  options.pipeline = static_cast<int>(pipeline);
  options.jitter = *jitter;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  options.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*connect_timeout);

  TerminationSignals signals;  // before any thread starts: Ctrl-C stops the load cleanly
  SystemTimeSource time;
  LoadOptions checked_options = options;
  if (processes > 1) checked_options.threads = std::min<int>(options.threads, options.connections);
  LoadGenerator generator(time, spec, checked_options);
  if (auto checked = generator.check(phases); !checked) {
    std::fprintf(stderr, "error: %s\n", checked.error().message.c_str());
    return checked.error().code == "bad_url" || checked.error().code == "bad_options" ? 2 : 1;
  }
  std::unique_ptr<loadgen::WorkerStore> store;
  if (!store_path.empty()) {
    auto opened = open_store(store_path, node, url, rate_text, options, static_cast<int>(processes),
                             phases, time);
    if (!opened) {
      std::fprintf(stderr, "error: %s\n", opened.error().message.c_str());
      return 1;
    }
    store = std::move(*opened);
  }
  std::atomic<bool> stop{false};
  bool tty = ::isatty(STDERR_FILENO) == 1;
  int64_t total_seconds = std::chrono::duration_cast<std::chrono::seconds>(total_duration).count();

  if (!worker)
    std::printf("Running %s test @ %s\n  %s%d threads and %d connections, %s %s%s\n",
                format_duration(total_duration).c_str(), url.c_str(),
                processes > 1 ? (std::to_string(processes) + " processes x ").c_str() : "",
                options.threads, options.connections, steps_text.empty() ? "rate" : "steps",
                rate_text.c_str(), rate_to_text.empty() ? "" : (" -> " + rate_to_text).c_str());
  std::fflush(stdout);
  auto on_second = [&](const IntervalStats& s) {
    if (signals.poll() != 0) stop = true;
    if (store) store->record(s);
    if (quiet) return;
    int64_t errors = s.errors + s.connect_errors + s.timeouts;
    std::fprintf(stderr, "%s[%3llds/%llds] %7lld req/s  p50 %-8s p99 %-8s errors %lld%s",
                 tty ? "\r" : "", static_cast<long long>(s.second + 1),
                 static_cast<long long>(total_seconds), static_cast<long long>(s.completed),
                 fmt_ns(s.latency.percentile(50)).c_str(), fmt_ns(s.latency.percentile(99)).c_str(),
                 static_cast<long long>(errors), tty ? "   " : "\n");
  };
  auto result = processes > 1
                    ? loadgen::run_in_processes(time, spec, options, static_cast<int>(processes),
                                                phases, on_second, &stop)
                    : generator.run(phases, on_second, &stop);
  if (tty && !quiet) std::fputs("\n", stderr);
  if (!result) {
    std::fprintf(stderr, "error: %s\n", result.error().message.c_str());
    if (store) (void)store->finish("error", 1, time.wall_ms());
    return result.error().code == "bad_url" || result.error().code == "bad_options" ? 2 : 1;
  }
  int exit_code = result->totals.completed > 0 ? 0 : 1;
  if (store) {
    std::string verdict = result->stopped ? "aborted" : exit_code == 0 ? "pass" : "fail";
    if (auto finished = store->finish(verdict, exit_code, time.wall_ms()); !finished) {
      std::fprintf(stderr, "error: results store '%s': %s\n", store_path.c_str(),
                   finished.error().message.c_str());
      return 1;
    }
  }
  if (worker) {
    boost::json::object line;
    line["component"] = "loadgen";
    line["store"] = store_path;
    line["run_id"] = store->run_id();
    line["sent"] = result->totals.sent;
    line["completed"] = result->totals.completed;
    line["errors"] =
        result->totals.errors + result->totals.connect_errors + result->totals.timeouts;
    line["first_error"] = result->first_error;
    std::printf("%s\n", boost::json::serialize(line).c_str());
  } else {
    print_summary(*result);
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << summary_json(url, options, static_cast<int>(processes), phases, *result) << "\n";
    if (!out) {
      std::fprintf(stderr, "error: cannot write '%s'\n", json_path.c_str());
      return 1;
    }
  }
  return exit_code;
}

}  // namespace gatedrill
