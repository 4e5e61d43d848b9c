#include "gui/run_model.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include <boost/json.hpp>

#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "reports/report_text.hpp"

namespace gatedrill::gui {

Result<RunData> load_run_data(const ResultsReader& reader, int64_t run_id) {
  RunData data;
  auto run = reader.run(run_id);
  if (!run) return run.error();
  auto phases = reader.phases(run_id);
  if (!phases) return phases.error();
  auto samples = reader.samples(run_id);
  if (!samples) return samples.error();
  auto events = reader.events(run_id);
  if (!events) return events.error();
  auto thresholds = reader.thresholds(run_id);
  if (!thresholds) return thresholds.error();
  data.summary.run = std::move(*run);
  data.summary.events = std::move(*events);
  data.summary.thresholds = std::move(*thresholds);
  data.phases = std::move(*phases);
  data.samples = std::move(*samples);
  return data;
}

Result<RunData> load_run_data_with_phase_reports(const ResultsReader& reader, int64_t run_id) {
  auto data = load_run_data(reader, run_id);
  if (!data) return data;
  auto summary = summarize_run(reader, run_id);
  if (!summary) return summary.error();
  data->summary.phases = std::move(summary->phases);
  data->phase_reports = true;
  return data;
}

RunModel::RunModel(RunData data) : data_(std::move(data)) {
  append_samples(data_.samples);
  data_.samples.clear();
  data_.samples.shrink_to_fit();
}

namespace {

// A stream of another identity ("hot@gw-1") runs against a gateway but is not one.
bool is_stream(const std::string& node) {
  return node.find('@') != std::string::npos;
}

}  // namespace

std::string gateway_of(const std::string& node) {
  auto at = node.find('@');
  return at == std::string::npos ? node : node.substr(at + 1);
}

std::vector<std::string> RunModel::nodes() const {
  std::vector<std::string> out;
  if (by_node_.count(kAllNodes)) out.push_back(kAllNodes);
  for (const auto& node : gateway_nodes()) out.push_back(node);
  for (const auto& [node, rows] : by_node_)
    if (is_stream(node)) out.push_back(node);
  return out;
}

std::vector<std::string> RunModel::gateway_nodes() const {
  std::vector<std::string> out;
  for (const auto& [node, rows] : by_node_)
    if (node != kAllNodes && !is_stream(node)) out.push_back(node);
  return out;  // std::map: sorted by name
}

size_t RunModel::sample_count() const {
  size_t n = 0;
  for (const auto& [node, rows] : by_node_) n += rows.size();
  return n;
}

int64_t RunModel::origin_ms() const {
  if (data_.phases.empty()) return run().started_ms;
  int64_t origin = std::numeric_limits<int64_t>::max();
  for (const auto& p : data_.phases) origin = std::min(origin, p.started_ms);
  return origin;
}

int64_t RunModel::last_second() const {
  int64_t last = -1;
  for (const auto& [node, rows] : by_node_)
    if (!rows.empty()) last = std::max(last, rows.back().second);
  return last;
}

int64_t RunModel::poll_from_second() const {
  if (by_node_.empty()) return 0;
  int64_t from = std::numeric_limits<int64_t>::max();
  for (const auto& [node, rows] : by_node_)
    from = std::min(from, rows.empty() ? 0 : rows.back().second + 1);
  return from;
}

size_t RunModel::append_samples(const std::vector<SampleRecord>& samples) {
  size_t kept = 0;
  for (const auto& s : samples) {
    auto& rows = by_node_[s.node];
    if (!rows.empty() && s.second <= rows.back().second) continue;
    rows.push_back(s);
    ++kept;
  }
  return kept;
}

void RunModel::update_records(RunRecord run, std::vector<PhaseRecord> phases,
                              std::vector<EventRecord> events,
                              std::vector<ThresholdRecord> thresholds) {
  data_.summary.run = std::move(run);
  data_.phases = std::move(phases);
  data_.summary.events = std::move(events);
  data_.summary.thresholds = std::move(thresholds);
}

void RunModel::set_phase_reports(std::vector<PhaseReport> phases) {
  data_.summary.phases = std::move(phases);
  data_.phase_reports = true;
}

const std::vector<SampleRecord>* RunModel::rows(const std::string& node) const {
  auto it = by_node_.find(node);
  return it == by_node_.end() ? nullptr : &it->second;
}

template <class Value>
Series RunModel::series_of(const std::string& node, std::string name, Value value) const {
  Series out;
  out.name = std::move(name);
  if (const auto* r = rows(node)) {
    out.points.reserve(r->size());
    for (const auto& s : *r)
      if (auto y = value(s); y >= 0) out.points.push_back({static_cast<double>(s.second), y});
  }
  return out;
}

Series RunModel::achieved_rps(const std::string& node) const {
  return series_of(node, "achieved",
                   [](const SampleRecord& s) { return static_cast<double>(s.requests); });
}

Series RunModel::target_rps(const std::string& node) const {
  Series out;
  out.name = "target";
  if (is_stream(node)) return out;  // a stream's rate is its own, not a share of the phase's
  double share = 1.0;
  auto gateways = gateway_nodes();
  if (node != kAllNodes && gateways.size() > 1) share = 1.0 / static_cast<double>(gateways.size());
  int64_t origin = origin_ms();
  for (const auto& p : data_.phases) {
    if (p.target_rate <= 0) continue;
    double start = static_cast<double>(p.started_ms - origin) / 1000.0;
    double end = static_cast<double>(p.ended_ms - origin) / 1000.0;
    out.points.push_back({start, p.target_rate * share});
    out.points.push_back({end, p.target_rate * share});
  }
  return out;
}

std::vector<Series> RunModel::latency_ms(const std::string& node) const {
  return {
      series_of(node, "p50",
                [](const SampleRecord& s) { return s.requests > 0 ? s.p50_us / 1000.0 : -1.0; }),
      series_of(node, "p99",
                [](const SampleRecord& s) { return s.requests > 0 ? s.p99_us / 1000.0 : -1.0; }),
      series_of(node, "p99.9",
                [](const SampleRecord& s) { return s.requests > 0 ? s.p999_us / 1000.0 : -1.0; }),
  };
}

namespace {

double share_of(int64_t part, int64_t total) {
  return total > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(total) : -1.0;
}

double cpu_of(const SampleRecord& s) {
  return s.cpu_pct;
}
double rss_mib_of(const SampleRecord& s) {
  return s.rss_bytes > 0 ? static_cast<double>(s.rss_bytes) / (1024.0 * 1024.0) : -1.0;
}

}  // namespace

std::vector<Series> RunModel::status_share(const std::string& node) const {
  return {
      series_of(node, "2xx",
                [](const SampleRecord& s) { return share_of(s.status_2xx, s.requests); }),
      series_of(node, "4xx",
                [](const SampleRecord& s) { return share_of(s.status_4xx, s.requests); }),
      series_of(node, "5xx",
                [](const SampleRecord& s) { return share_of(s.status_5xx, s.requests); }),
      series_of(node, "no response",
                [](const SampleRecord& s) {
                  return share_of(s.connect_errors + s.timeouts, s.requests);
                }),
  };
}

std::vector<Series> RunModel::per_gateway(const std::string& node, const char* suffix,
                                          double (*value)(const SampleRecord&)) const {
  std::vector<Series> out;
  // A stream shows the process it runs against: its gateway's CPU and memory.
  std::vector<std::string> which =
      node == kAllNodes ? gateway_nodes() : std::vector<std::string>{gateway_of(node)};
  for (const auto& n : which) {
    Series s = series_of(n, n + suffix, value);
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::vector<Series> RunModel::cpu_pct(const std::string& node) const {
  return per_gateway(node, "", cpu_of);
}

std::vector<Series> RunModel::rss_mib(const std::string& node) const {
  return per_gateway(node, "", rss_mib_of);
}

std::vector<FaultWindow> RunModel::fault_windows(const std::string& node) const {
  std::vector<FaultWindow> out;
  auto gateways = gateway_nodes();
  std::string own = gateway_of(node);
  auto is_other_gateway = [&](const std::string& n) {
    return n != own && std::find(gateways.begin(), gateways.end(), n) != gateways.end();
  };
  int64_t origin = origin_ms();
  for (const auto& e : data_.summary.events) {
    if (e.kind != "fault" && e.kind != "restart" && e.kind != "exit") continue;
    if (node != kAllNodes && is_other_gateway(e.node)) continue;
    FaultWindow w;
    w.start_s = static_cast<double>(e.start_ms - origin) / 1000.0;
    if (e.end_ms > 0)
      w.end_s = static_cast<double>(e.end_ms - origin) / 1000.0;
    else if (e.kind == "fault" && running())
      w.end_s = std::max(w.start_s, static_cast<double>(last_second() + 1));  // still open
    else
      w.end_s = w.start_s;
    w.node = e.node;
    w.kind = e.kind;
    w.name = e.name;
    w.label = e.name == e.kind || e.name.empty() ? e.kind : e.name;
    if (!e.node.empty()) w.label += " on " + e.node;
    w.detail_json = e.detail_json;
    out.push_back(std::move(w));
  }
  return out;
}

std::string RunModel::phase_at(double second) const {
  int64_t origin = origin_ms();
  for (const auto& p : data_.phases) {
    double start = static_cast<double>(p.started_ms - origin) / 1000.0;
    double end = static_cast<double>(p.ended_ms - origin) / 1000.0;
    if (second >= start && second < end) return p.name;
  }
  return {};
}

std::vector<Point> envelope(const std::vector<Point>& points, double lo, double hi,
                            size_t max_points) {
  auto first = std::lower_bound(points.begin(), points.end(), lo,
                                [](const Point& p, double x) { return p.x < x; });
  auto last = std::upper_bound(points.begin(), points.end(), hi,
                               [](double x, const Point& p) { return x < p.x; });
  if (first != points.begin()) --first;
  if (last != points.end()) ++last;
  auto count = static_cast<size_t>(last - first);
  max_points = std::max<size_t>(max_points, 4);
  if (count <= max_points) return {first, last};
  std::vector<Point> out;
  size_t buckets = max_points / 2;
  out.reserve(buckets * 2);
  for (size_t b = 0; b < buckets; ++b) {
    auto begin = first + static_cast<std::ptrdiff_t>(b * count / buckets);
    auto end = first + static_cast<std::ptrdiff_t>((b + 1) * count / buckets);
    if (begin == end) continue;
    auto [low, high] =
        std::minmax_element(begin, end, [](const Point& a, const Point& c) { return a.y < c.y; });
    if (low == high) {
      out.push_back(*low);
    } else if (low->x < high->x) {
      out.push_back(*low);
      out.push_back(*high);
    } else {
      out.push_back(*high);
      out.push_back(*low);
    }
  }
  return out;
}

Result<std::vector<RunRow>> load_run_rows(const ResultsReader& reader) {
  auto runs = reader.runs();
  if (!runs) return runs.error();
  auto totals = reader.run_totals();
  if (!totals) return totals.error();
  std::map<int64_t, RunTotals> by_run;
  for (const auto& t : *totals) by_run[t.run_id] = t;
  std::vector<RunRow> out;
  out.reserve(runs->size());
  for (auto& run : *runs) {
    RunRow row;
    if (auto it = by_run.find(run.id); it != by_run.end()) {
      row.seconds = it->second.seconds;
      row.requests = it->second.requests;
      if (row.seconds > 0)
        row.rps = static_cast<double>(row.requests) / static_cast<double>(row.seconds);
    }
    row.run = std::move(run);
    out.push_back(std::move(row));
  }
  return out;
}

bool row_matches(const RunRow& row, const std::string& filter) {
  std::string haystack =
      to_lower(std::to_string(row.run.id) + " " + row.run.name + " " + row.run.scenario + " " +
               row.run.verdict + " " + format_params(row.run.params_json));
  for (auto word : split(filter, ' ')) {
    word = trim(word);
    if (word.empty()) continue;
    if (haystack.find(to_lower(word)) == std::string::npos) return false;
  }
  return true;
}

std::string format_wall_minute(int64_t wall_ms) {
  return format_wall_time(wall_ms).substr(0, 16);
}

std::string format_seconds(double seconds) {
  auto total = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (total < 60)
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(total));
  else if (total < 3600)
    std::snprintf(buf, sizeof buf, "%lld m %02lld s", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld h %02lld m", static_cast<long long>(total / 3600),
                  static_cast<long long>(total % 3600 / 60));
  return buf;
}

std::string format_run_duration(const RunRecord& run) {
  if (run.ended_ms == 0) return "running";
  return format_seconds(static_cast<double>(run.ended_ms - run.started_ms) / 1000.0);
}

std::string format_params(const std::string& params_json) {
  auto object = parse_json_object(params_json);
  if (!object) return params_json;
  std::string out;
  for (const auto& [key, value] : *object) {
    if (!out.empty()) out += " ";
    out += std::string(key) + "=";
    out += value.is_string() ? std::string(value.as_string()) : boost::json::serialize(value);
  }
  return out;
}

}  // namespace gatedrill::gui
