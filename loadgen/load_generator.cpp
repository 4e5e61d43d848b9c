#include "loadgen/load_generator.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "core/crypto/openssl_ptr.hpp"
#include "loadgen/client_identity.hpp"
#include "loadgen/h2_connection.hpp"
#include "loadgen/request_plan.hpp"
#include "loadgen/schedule.hpp"
#include "loadgen/worker.hpp"

namespace gatedrill {
namespace {

using loadgen::Tally;

Result<void> validate(const LoadOptions& o, const std::vector<LoadPhase>& phases) {
  if (o.connections < 1)
    return make_error("bad_options",
                      "connections must be at least 1, got " + std::to_string(o.connections));
  if (o.threads < 1)
    return make_error("bad_options",
                      "threads must be at least 1, got " + std::to_string(o.threads));
  if (o.threads > o.connections)
    return make_error("bad_options", "threads (" + std::to_string(o.threads) +
                                         ") cannot exceed connections (" +
                                         std::to_string(o.connections) + ")");
  if (o.timeout.count() <= 0) return make_error("bad_options", "timeout must be positive");
  if (o.connect_timeout.count() <= 0)
    return make_error("bad_options", "connect timeout must be positive");
  if (o.first_connection < 0 || o.total_connections < 0 ||
      (o.total_connections > 0 && o.first_connection + o.connections > o.total_connections))
    return make_error("bad_options", "the connection share must lie within the total connections");
  if (o.streams < 1 || o.streams > 1000)
    return make_error("bad_options", "streams must be 1..1000, got " + std::to_string(o.streams));
  if (!o.h2 && o.streams != 1) return make_error("bad_options", "concurrent streams need HTTP/2");
  if (!(o.jitter >= 0 && o.jitter <= 1))
    return make_error("bad_options", "jitter must be a fraction of the gap in 0..1");
  if (o.pipeline < 1 || o.pipeline > 1024)
    return make_error("bad_options", "pipeline must be 1..1024, got " + std::to_string(o.pipeline));
  if (o.h2 && o.pipeline != 1)
    return make_error("bad_options", "pipelining is HTTP/1.1's; HTTP/2 has concurrent streams");
  if (o.requests_per_connection < 0)
    return make_error("bad_options", "requests per connection must be >= 0 (0 = unlimited)");
  if (phases.empty()) return make_error("bad_options", "no load phases given");
  for (const auto& p : phases) {
    std::string name = "phase '" + p.name + "'";
    if (p.duration.count() <= 0)
      return make_error("bad_options", name + ": duration must be positive");
    if (!std::isfinite(p.rate) || p.rate < 0)
      return make_error("bad_options", name + ": rate must be >= 0 (0 = max)");
    if (!std::isfinite(p.rate_to) || (p.rate_to < 0 && p.rate_to != -1))
      return make_error("bad_options", name + ": rate_to must be >= 0, or -1 for a constant rate");
  }
  return {};
}

Result<void> resolve(const loadgen::Target& target, loadgen::WorkerSetup* setup) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(target.port);
  int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr)
    return make_error("bad_url",
                      "cannot resolve host '" + target.host + "': " + ::gai_strerror(rc));
  std::memcpy(&setup->address, found->ai_addr, found->ai_addrlen);
  setup->address_len = found->ai_addrlen;
  ::freeaddrinfo(found);
  return {};
}

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

Result<SslCtxPtr> make_ssl_ctx(const LoadRequestSpec& spec, bool h2) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return make_error("tls_setup", "cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static const unsigned char kAlpnH2[] = {2, 'h', '2'};
  if (h2)
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpnH2, sizeof kAlpnH2);
  else
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn);
  loadgen::configure_client_sessions(ctx.get(), spec.tls_resume);
  if (spec.client_cert_file.empty() != spec.client_key_file.empty())
    return make_error("bad_options",
                      "a client certificate needs both its certificate and key file");
  if (!spec.client_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), spec.client_cert_file.c_str()) != 1) {
      ERR_clear_error();
      return make_error("bad_options",
                        "cannot load the client certificate from '" + spec.client_cert_file + "'");
    }
    // Read first, then install: installing checks the key against the certificate, and the two
    // failures deserve different messages.
    EVP_PKEY* key = nullptr;
    if (FILE* f = std::fopen(spec.client_key_file.c_str(), "r")) {
      key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    if (key == nullptr) {
      ERR_clear_error();
      return make_error("bad_options",
                        "cannot load the client key from '" + spec.client_key_file + "'");
    }
    int used = SSL_CTX_use_PrivateKey(ctx.get(), key);
    EVP_PKEY_free(key);
    if (used != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
      ERR_clear_error();
      return make_error("bad_options", "the client key '" + spec.client_key_file +
                                           "' does not match the certificate '" +
                                           spec.client_cert_file + "'");
    }
    // Rotated files (a renewed SVID) are presented from the next handshake on.
    if (spec.follow_client_cert) {
      auto followed =
          follow_client_identity(ctx.get(), spec.client_cert_file, spec.client_key_file);
      if (!followed) return followed.error();
    }
  }
  if (spec.insecure) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!spec.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), spec.ca_file.c_str(), nullptr) != 1)
      return make_error("bad_options", "cannot load CA certificates from '" + spec.ca_file + "'");
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return make_error("tls_setup", "cannot load the system CA certificates");
  }
  return ctx;
}

void fill_interval(IntervalStats* out, const Tally& t) {
  out->sent = t.sent;
  out->completed = t.completed;
  out->errors = t.errors;
  out->connect_errors = t.connect_errors;
  out->timeouts = t.timeouts;
  out->tls_handshakes = t.tls_handshakes;
  out->tls_resumed = t.tls_resumed;
  out->status_counts.clear();
  for (size_t i = 0; i < t.status.size(); ++i)
    if (t.status[i] != 0) out->status_counts[static_cast<int>(i)] = t.status[i];
  out->latency = t.latency;
  out->latency_actual = t.latency_actual;
}

}  // namespace

void LoadTotals::add(const IntervalStats& s) {
  sent += s.sent;
  completed += s.completed;
  errors += s.errors;
  connect_errors += s.connect_errors;
  timeouts += s.timeouts;
  tls_handshakes += s.tls_handshakes;
  tls_resumed += s.tls_resumed;
  for (const auto& [status, count] : s.status_counts) status_counts[status] += count;
  latency.merge(s.latency);
  latency_actual.merge(s.latency_actual);
}

PhaseSummary summarize_phase(const LoadPhase& phase, const IntervalStats& counts) {
  PhaseSummary ps;
  ps.name = phase.name;
  ps.rate = phase.rate;
  ps.rate_to = phase.rate_to;
  ps.duration = phase.duration;
  ps.totals.add(counts);
  return ps;
}

double LoadSummary::achieved_rps() const {
  return elapsed.count() > 0
             ? static_cast<double>(totals.completed) * 1e9 / static_cast<double>(elapsed.count())
             : 0;
}

LoadGenerator::LoadGenerator(TimeSource& time, LoadRequestSpec request, LoadOptions options)
    : time_(time), request_(std::move(request)), options_(options) {}

// Everything a run needs before its threads start; building it is the full validation.
struct LoadGenerator::Prepared {
  std::vector<std::string> requests;
  std::vector<loadgen::PhasePlan> plans;
  std::shared_ptr<const loadgen::H2Requests> h2_requests;
  SslCtxPtr ssl_ctx;
  loadgen::WorkerSetup base;
};

Result<std::unique_ptr<LoadGenerator::Prepared>> LoadGenerator::prepare(
    const std::vector<LoadPhase>& phases) const {
  auto target = loadgen::parse_url(request_.url);
  if (!target) return target.error();
  if (auto valid = validate(options_, phases); !valid) return valid.error();
  auto requests = loadgen::build_requests(*target, request_);
  if (!requests) return requests.error();
  if (!target->tls && (!request_.client_cert_file.empty() || !request_.sni.empty()))
    return make_error("bad_options", "a client certificate or SNI needs an https:// URL");
  for (char ch : request_.sni)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '/')
      return make_error("bad_options", "SNI '" + request_.sni + "' is not a host name");

  auto p = std::make_unique<Prepared>();
  p->requests = std::move(*requests);
  if (options_.h2) {
    auto h2 = loadgen::H2Requests::from_http1(p->requests, target->tls);
    if (!h2) return h2.error();
    p->h2_requests = std::move(*h2);
  }
  std::vector<loadgen::PhaseRate> rates;
  for (const auto& phase : phases)
    rates.push_back({phase.rate, phase.rate_to, phase.duration.count()});
  p->plans = loadgen::plan_phases(rates, options_.connections);
  if (auto resolved = resolve(*target, &p->base); !resolved) return resolved.error();
  if (target->tls) {
    auto ctx = make_ssl_ctx(request_, options_.h2);
    if (!ctx) return ctx.error();
    p->ssl_ctx = std::move(*ctx);
  }

  loadgen::WorkerSetup& base = p->base;
  base.time = &time_;
  base.end_ns = p->plans.back().end_ns();
  base.plans = &p->plans;
  base.requests = &p->requests;
  base.head_request = request_.method == "HEAD";
  base.ssl_ctx = p->ssl_ctx.get();
  base.tls_host = request_.sni.empty() ? target->host : request_.sni;
  base.tls_host_is_ip = is_ip_literal(base.tls_host);
  base.verify_peer = !request_.insecure;
  base.tls_resume = request_.tls_resume;
  base.requests_per_connection = options_.requests_per_connection;
  base.h2_requests = p->h2_requests.get();
  base.h2_streams = options_.streams;
  base.jitter = options_.jitter;
  base.jitter_seed = options_.jitter_seed;
  base.pipeline = options_.pipeline;
  base.timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.timeout).count();
  base.connect_timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.connect_timeout).count();
  base.total_connections =
      options_.total_connections > 0 ? options_.total_connections : options_.connections;
  return p;
}

Result<void> LoadGenerator::check(const std::vector<LoadPhase>& phases) const {
  auto prepared = prepare(phases);
  if (!prepared) return prepared.error();
  return {};
}

Result<LoadSummary> LoadGenerator::run(const std::vector<LoadPhase>& phases,
                                       std::function<void(const IntervalStats&)> on_interval,
                                       const std::atomic<bool>* stop) {
  auto prepared = prepare(phases);
  if (!prepared) return prepared.error();
  const std::vector<loadgen::PhasePlan>& plans = (*prepared)->plans;
  loadgen::WorkerSetup base = (*prepared)->base;
  base.stop = stop;

  loadgen::Collector collector(options_.threads);
  base.collector = &collector;
  base.start_mono_ns = time_.monotonic_ns();
  std::vector<std::thread> threads;
  for (int i = 0; i < options_.threads; ++i) {
    loadgen::WorkerSetup setup = base;
    setup.index = i;
    int first = options_.connections * i / options_.threads;
    setup.first_connection = options_.first_connection + first;
    setup.connection_count = options_.connections * (i + 1) / options_.threads - first;
    threads.emplace_back([setup] { loadgen::run_worker(setup); });
  }

  LoadSummary summary;
  constexpr int64_t kSecond = 1'000'000'000;
  const int64_t schedule_end = plans.back().end_ns();
  // Responses that arrive after the schedule ended belong to its last second, so every
  // interval is a second of the schedule (and rates per interval stay honest).
  const int64_t last_second = (schedule_end - 1) / kSecond;
  for (int64_t second = 0;; ++second) {
    std::optional<Tally> tally = collector.take_second(second);
    if (!tally) break;
    if (second == last_second)
      for (int64_t later = second + 1; auto more = collector.take_second(later); ++later)
        tally->merge(*more);
    IntervalStats interval;
    interval.second = second;
    int64_t from = second * kSecond;
    int64_t to = std::min(from + kSecond, schedule_end);
    size_t index = plans.size() - 1;
    for (size_t i = 0; i < plans.size(); ++i)
      if (from < plans[i].end_ns()) {
        index = i;
        break;
      }
    interval.phase = phases[index].name;
    // The requests planned in this second (the rate integrated over it; ramps are linear).
    double planned = 0;
    for (const auto& plan : plans) {
      int64_t a = std::max(from, plan.start_ns), b = std::min(to, plan.end_ns());
      if (b > a && !plan.closed_loop())
        planned += (plan.rate_at(a) + plan.rate_at(b)) / 2 * static_cast<double>(b - a) / 1e9;
    }
    interval.target_rate = planned * options_.connections;
    fill_interval(&interval, *tally);
    summary.totals.add(interval);
    if (on_interval) on_interval(interval);
    summary.intervals.push_back(std::move(interval));
    if (second >= last_second) break;
  }
  for (auto& t : threads) t.join();

  summary.elapsed = std::chrono::nanoseconds(collector.end_ns());
  summary.stopped = stop != nullptr && stop->load();
  summary.first_error = collector.first_error();
  std::vector<Tally> phase_tallies = collector.phase_totals(phases.size());
  for (size_t i = 0; i < phases.size(); ++i) {
    IntervalStats as_interval;
    fill_interval(&as_interval, phase_tallies[i]);
    summary.phases.push_back(summarize_phase(phases[i], as_interval));
  }
  return summary;
}

}  // namespace gatedrill
