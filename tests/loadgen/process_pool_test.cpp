// `--processes N`: worker processes stream their seconds to the parent, which merges them
// exactly. Also the wire format on its own.
#include "loadgen/process_pool.hpp"

#include <gtest/gtest.h>

#include "loadgen/interval_wire.hpp"
#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill::loadgen {
namespace {

using namespace std::chrono_literals;

TEST(IntervalWire, RoundTripsCountsAndHistogramsExactly) {
  IntervalStats s;
  s.second = 7;
  s.phase = "steady state";
  s.target_rate = 1234.5;
  s.sent = 10;
  s.completed = 9;
  s.errors = 1;
  s.connect_errors = 2;
  s.timeouts = 3;
  s.tls_handshakes = 4;
  s.tls_resumed = 2;
  s.status_counts = {{200, 8}, {503, 1}};
  for (int64_t v : {1'000, 250'000, 3'000'000, 900'000'000}) s.latency.record(v);
  s.latency_actual.record(42'000, 9);
  auto frame = decode_frame(encode_interval_frame(s));
  ASSERT_TRUE(frame.ok()) << frame.error().message;
  EXPECT_EQ(frame->kind, WireFrame::Kind::kInterval);
  const IntervalStats& d = frame->interval;
  EXPECT_EQ(d.second, 7);
  EXPECT_EQ(d.phase, "steady state");
  EXPECT_DOUBLE_EQ(d.target_rate, 1234.5);
  EXPECT_EQ(d.sent, 10);
  EXPECT_EQ(d.completed, 9);
  EXPECT_EQ(d.errors + d.connect_errors + d.timeouts, 6);
  EXPECT_EQ(d.tls_handshakes, 4);
  EXPECT_EQ(d.tls_resumed, 2);
  EXPECT_EQ(d.status_counts, s.status_counts);
  EXPECT_EQ(d.latency.encode(), s.latency.encode());
  EXPECT_EQ(d.latency_actual.count(), 9);

  LoadSummary end;
  end.elapsed = 3s;
  end.stopped = true;
  end.first_error = "connect: refused";
  auto e = decode_frame(encode_end_frame(end));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, WireFrame::Kind::kEnd);
  EXPECT_EQ(e->elapsed_ns, 3'000'000'000);
  EXPECT_TRUE(e->stopped);
  EXPECT_EQ(e->first_error, "connect: refused");

  for (const char* bad : {"", "{", "{\"kind\":\"nope\"}", "{\"kind\":\"interval\",\"second\":1}",
                          "{\"kind\":\"end\"}"}) {
    auto r = decode_frame(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "bad_frame");
  }
}

TEST(ProcessPool, TwoProcessesMergeToExactlyTheSumOfTheirCounts) {
  testing::TestHttpServer server([](int64_t n) { return testing::Reply{n % 5 == 0 ? 503 : 200}; });
  LoadRequestSpec spec;
  spec.url = server.url("/procs");
  LoadOptions options;
  options.connections = 4;
  SystemTimeSource time;
  std::vector<IntervalStats> seen;
  auto summary = run_in_processes(time, spec, options, 2, {{"steady", 200, -1, 1500ms}},
                                  [&](const IntervalStats& s) { seen.push_back(s); });
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_EQ(t.sent, 300);
  EXPECT_EQ(t.completed, 300) << summary->first_error;
  EXPECT_EQ(server.requests(), 300);
  EXPECT_EQ(t.status_counts.at(200) + t.status_counts.at(503), 300);
  EXPECT_EQ(t.status_counts.at(503), 60);
  EXPECT_EQ(t.latency.count(), 300);
  EXPECT_EQ(t.latency_actual.count(), 300);
  EXPECT_EQ(server.connections(), 4);
  // One merged interval per second of the schedule, handed over as they complete.
  ASSERT_EQ(seen.size(), 2u);
  ASSERT_EQ(summary->intervals.size(), 2u);
  int64_t completed = 0, in_histograms = 0;
  double planned = 0;
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].second, static_cast<int64_t>(i));
    EXPECT_EQ(seen[i].phase, "steady");
    completed += seen[i].completed;
    in_histograms += seen[i].latency.count();
    planned += seen[i].target_rate;
  }
  EXPECT_EQ(completed, 300);
  EXPECT_EQ(in_histograms, 300);
  EXPECT_NEAR(planned, 300, 1e-6);
  EXPECT_NEAR(seen[0].target_rate, 200, 1e-6);  // both halves of the rate
  ASSERT_EQ(summary->phases.size(), 1u);
  EXPECT_EQ(summary->phases[0].totals.completed, 300);
  EXPECT_EQ(summary->phases[0].totals.latency.count(), 300);
  EXPECT_GT(summary->elapsed, 1400ms);
}

TEST(ProcessPool, RefusesMoreProcessesThanConnectionsAndBadOptionsBeforeForking) {
  LoadRequestSpec spec;
  spec.url = "http://127.0.0.1:1/";
  LoadOptions options;
  options.connections = 2;
  SystemTimeSource time;
  auto r = run_in_processes(time, spec, options, 3, {{"x", 10, -1, 1s}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_options");
  spec.url = "ftp://nope/";
  r = run_in_processes(time, spec, options, 2, {{"x", 10, -1, 1s}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_url");
}

}  // namespace
}  // namespace gatedrill::loadgen
