#include "loadgen/interval_wire.hpp"

#include <boost/json/object.hpp>

#include "core/crypto/base64url.hpp"
#include "core/util/json.hpp"

namespace gatedrill::loadgen {
namespace {

template <typename Counts>
void put_counts(boost::json::object& o, const Counts& c) {
  put_count_fields(o, c);
  o["latency"] = base64url_encode(c.latency.encode());
  o["latency_actual"] = base64url_encode(c.latency_actual.encode());
}

Result<int64_t> get_int(const boost::json::object& o, std::string_view key) {
  auto v = json_int(o, key);
  if (!v) return make_error("bad_frame", v.error().message);
  if (!*v) return make_error("bad_frame", "missing " + std::string(key));
  return **v;
}

Result<Histogram> get_histogram(const boost::json::object& o, std::string_view key) {
  auto text = json_string(o, key);
  if (!text || !*text) return make_error("bad_frame", "missing histogram " + std::string(key));
  auto blob = base64url_decode(**text);
  if (!blob) return make_error("bad_frame", "histogram " + std::string(key) + " is not base64url");
  auto h = Histogram::decode(*blob);
  if (!h)
    return make_error("bad_frame", "histogram " + std::string(key) + ": " + h.error().message);
  return std::move(*h);
}

Result<void> get_counts(const boost::json::object& o, IntervalStats* out) {
  struct Field {
    const char* key;
    int64_t* target;
  };
  for (Field f : {Field{"sent", &out->sent}, Field{"completed", &out->completed},
                  Field{"errors", &out->errors}, Field{"connect_errors", &out->connect_errors},
                  Field{"timeouts", &out->timeouts}, Field{"tls_handshakes", &out->tls_handshakes},
                  Field{"tls_resumed", &out->tls_resumed}}) {
    auto v = get_int(o, f.key);
    if (!v) return v.error();
    *f.target = *v;
  }
  auto status = o.find("status");
  if (status == o.end() || !status->value().is_object())
    return make_error("bad_frame", "missing status counts");
  for (const auto& [code, count] : status->value().as_object()) {
    if (!count.is_int64()) return make_error("bad_frame", "a status count is not an integer");
    out->status_counts[std::atoi(std::string(code).c_str())] = count.as_int64();
  }
  auto latency = get_histogram(o, "latency");
  if (!latency) return latency.error();
  out->latency = std::move(*latency);
  auto actual = get_histogram(o, "latency_actual");
  if (!actual) return actual.error();
  out->latency_actual = std::move(*actual);
  return {};
}

}  // namespace

std::string encode_interval_frame(const IntervalStats& s) {
  boost::json::object o;
  o["kind"] = "interval";
  o["second"] = s.second;
  o["phase"] = s.phase;
  o["target_rate"] = s.target_rate;
  put_counts(o, s);
  return to_json(o) + "\n";
}

std::string encode_phase_frame(size_t index, const LoadTotals& t) {
  boost::json::object o;
  o["kind"] = "phase";
  o["second"] = static_cast<int64_t>(index);
  put_counts(o, t);
  return to_json(o) + "\n";
}

std::string encode_end_frame(const LoadSummary& s) {
  boost::json::object o;
  o["kind"] = "end";
  o["elapsed_ns"] = static_cast<int64_t>(s.elapsed.count());
  o["stopped"] = s.stopped;
  o["first_error"] = s.first_error;
  return to_json(o) + "\n";
}

Result<WireFrame> decode_frame(std::string_view line) {
  auto parsed = parse_json_object(line);
  if (!parsed) return make_error("bad_frame", parsed.error().message);
  const boost::json::object& o = *parsed;
  auto kind = json_string(o, "kind");
  if (!kind || !*kind) return make_error("bad_frame", "missing kind");
  WireFrame f;
  if (**kind == "end") {
    f.kind = WireFrame::Kind::kEnd;
    auto elapsed = get_int(o, "elapsed_ns");
    if (!elapsed) return elapsed.error();
    f.elapsed_ns = *elapsed;
    auto stopped = json_bool(o, "stopped");
    f.stopped = stopped && *stopped && **stopped;
    auto error = json_string(o, "first_error");
    if (error && *error) f.first_error = **error;
    return f;
  }
  if (**kind != "interval" && **kind != "phase")
    return make_error("bad_frame", "unknown kind '" + **kind + "'");
  f.kind = **kind == "interval" ? WireFrame::Kind::kInterval : WireFrame::Kind::kPhase;
  auto second = get_int(o, "second");
  if (!second) return second.error();
  f.interval.second = *second;
  if (f.kind == WireFrame::Kind::kInterval) {
    auto phase = json_string(o, "phase");
    if (phase && *phase) f.interval.phase = **phase;
    auto rate = json_number(o, "target_rate");
    if (rate && *rate) f.interval.target_rate = **rate;
  }
  if (auto counts = get_counts(o, &f.interval); !counts) return counts.error();
  return f;
}

void merge_counts(IntervalStats* into, const IntervalStats& from) {
  into->sent += from.sent;
  into->completed += from.completed;
  into->errors += from.errors;
  into->connect_errors += from.connect_errors;
  into->timeouts += from.timeouts;
  into->tls_handshakes += from.tls_handshakes;
  into->tls_resumed += from.tls_resumed;
  for (const auto& [code, count] : from.status_counts) into->status_counts[code] += count;
  into->latency.merge(from.latency);
  into->latency_actual.merge(from.latency_actual);
}

}  // namespace gatedrill::loadgen
