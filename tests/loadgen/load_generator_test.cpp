// The load generator against a real server on 127.0.0.1: rate, statuses, the coordinated-
// omission correction, failures that are counted instead of fatal, chunked bodies, bad input.
#include "loadgen/load_generator.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>

#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill {
namespace {

using namespace std::chrono_literals;
using testing::Reply;
using testing::TestHttpServer;

constexpr int64_t kMs = 1'000'000;

LoadRequestSpec spec_for(const std::string& url) {
  LoadRequestSpec spec;
  spec.url = url;
  return spec;
}

LoadOptions options(int connections, int threads = 1) {
  LoadOptions o;
  o.connections = connections;
  o.threads = threads;
  return o;
}

TEST(LoadGenerator, FixedRateIsAchievedAndStatusesAreCounted) {
  TestHttpServer server([](int64_t n) { return Reply{n % 10 == 9 ? 503 : 200}; });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url("/fixed")), options(4, 2));
  std::vector<IntervalStats> seconds;
  auto summary = generator.run({{"steady", 500, -1, 2s}},
                               [&](const IntervalStats& s) { seconds.push_back(s); });
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  // 500 req/s for 2 s: the schedule plans exactly 1000; all of them go out and come back.
  EXPECT_EQ(t.sent, 1000);
  EXPECT_EQ(t.completed, t.sent);
  EXPECT_EQ(t.errors + t.connect_errors + t.timeouts, 0);
  EXPECT_EQ(t.status_counts.at(503), server.requests() / 10);
  EXPECT_EQ(t.status_counts.at(200) + t.status_counts.at(503), t.completed);
  EXPECT_EQ(t.latency.count(), t.completed);
  EXPECT_EQ(t.latency_actual.count(), t.completed);
  // Achieved over the scheduled time, within a few percent (the last responses arrive just after).
  EXPECT_NEAR(summary->achieved_rps(), 500, 25);
  ASSERT_EQ(seconds.size(), 2u);  // the last responses count in the schedule's last second
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(seconds[i].second, static_cast<int64_t>(i));
    EXPECT_EQ(seconds[i].phase, "steady");
    EXPECT_DOUBLE_EQ(seconds[i].target_rate, 500);
    EXPECT_NEAR(static_cast<double>(seconds[i].sent), 500, 15) << i;
  }
  ASSERT_EQ(summary->phases.size(), 1u);
  EXPECT_EQ(summary->phases[0].totals.completed, t.completed);
  EXPECT_LE(server.connections(), 4);  // keep-alive: no reconnects
}

TEST(LoadGenerator, AStallShowsInCorrectedLatencyButNotInActualLatency) {
  // One request, early on, is answered after 500 ms; its connection queues the requests planned
  // meanwhile. They wait, so their corrected latency grows; their actual latency does not.
  TestHttpServer server([](int64_t n) {
    return Reply{200, "ok", false, false, n == 40 ? 500 : 0};
  });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(4));
  auto summary = generator.run({{"stall", 400, -1, 2s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_EQ(t.completed, 800);
  // ~50 of 800 requests (6%) waited up to 500 ms.
  EXPECT_GE(t.latency.percentile(99), 300 * kMs);
  EXPECT_GE(t.latency.max(), 480 * kMs);
  // Only the stalled request itself took long from its actual send (1 of 800: above p99.8).
  EXPECT_LT(t.latency_actual.percentile(99), 100 * kMs);
  EXPECT_GE(t.latency_actual.max(), 480 * kMs);
}

TEST(LoadGenerator, RefusedConnectionsAreCountedNotFatal) {
  SystemTimeSource time;
  LoadGenerator generator(
      time, spec_for("http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/"),
      options(2));
  auto summary = generator.run({{"refused", 100, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_GT(summary->totals.connect_errors, 2);
  EXPECT_EQ(summary->totals.completed, 0);
  EXPECT_NE(summary->first_error.find("refused"), std::string::npos) << summary->first_error;
}

TEST(LoadGenerator, TimeoutsAreCountedAndTheConnectionRecovers) {
  // The first two requests are never answered; everything after is.
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.no_response = n < 2;
    return r;
  });
  SystemTimeSource time;
  LoadOptions o = options(2);
  o.timeout = 200ms;
  LoadGenerator generator(time, spec_for(server.url()), o);
  auto summary = generator.run({{"timeouts", 100, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.timeouts, 2);
  EXPECT_EQ(summary->totals.completed, summary->totals.sent - 2);
  EXPECT_GT(summary->totals.completed, 80);
  EXPECT_GE(server.connections(), 4);  // both timed-out connections were replaced
}

TEST(LoadGenerator, ChunkedAndConnectionCloseResponsesAreParsed) {
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.body = "a chunked body of some length";
    r.chunked = true;
    r.close = n % 5 == 4;
    return r;
  });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(2));
  auto summary = generator.run({{"chunked", 200, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 200);
  EXPECT_EQ(summary->totals.completed, 200);
  EXPECT_EQ(summary->totals.status_counts.at(200), 200);
  EXPECT_EQ(summary->totals.errors, 0);
  EXPECT_GE(server.connections(), 40);  // a new connection after each Connection: close
}

TEST(LoadGenerator, RequestsWaitingForAReplacedConnectionAtTheEndAreStillSent) {
  // One connection, 10/s for 1 s: requests planned at 50, 150, ..., 950 ms. The answer to
  // request 7 (750 ms) comes after 400 ms with Connection: close, so after the schedule ended;
  // requests 8 and 9 wait for the new connection and must still go out and be answered.
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.close = n == 7;
    r.delay_ms = n == 7 ? 400 : 0;
    return r;
  });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(1));
  auto summary = generator.run({{"late-close", 10, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 10);
  EXPECT_EQ(summary->totals.completed, 10);
  EXPECT_EQ(summary->totals.errors, 0) << summary->first_error;
  EXPECT_EQ(server.connections(), 2);
}

TEST(LoadGenerator, AReadUntilCloseBodyEndsWhenItsCloseArrivesWithIt) {
  // The server answers without a length and closes; corked, the body and the FIN leave in one
  // segment, so the client is woken once for both (edge-triggered epoll) and must still see
  // the end of the body.
  testing::LoopbackAcceptor acceptor(
      [](testing::Stream& stream) {
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = stream.read(buf, sizeof buf);
          if (n <= 0) return;
          head.append(buf, static_cast<size_t>(n));
        }
        int one = 1;
        ::setsockopt(stream.fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
        stream.write("HTTP/1.1 200 OK\r\n\r\na body until the close");
      },  // then the acceptor shuts the socket down: the FIN joins the corked bytes
      nullptr);
  SystemTimeSource time;
  LoadOptions o = options(1);
  o.timeout = 500ms;
  LoadGenerator generator(time,
                          spec_for("http://127.0.0.1:" + std::to_string(acceptor.port()) + "/"), o);
  auto summary = generator.run({{"until-close", 20, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->totals.sent, 10);
  EXPECT_EQ(summary->totals.completed, 10);
  EXPECT_EQ(summary->totals.timeouts, 0) << summary->first_error;
  EXPECT_GE(acceptor.connections(), 10);  // one per response (and maybe a spare at the end)
}

// Request n of the pipelining tests: every 100th is answered after 100 ms, so the requests
// planned meanwhile (2.5 ms apart at 400/s) queue up behind it; odd ones come back chunked, so
// each response's framing differs from its neighbour's in the same read.
Reply pipelining_reply(int64_t n) {
  Reply r;
  r.body = n % 2 == 1 ? "a chunked body" : "plain";
  r.chunked = n % 2 == 1;
  r.status = n % 3 == 0 ? 201 : 200;
  r.delay_ms = n % 100 == 0 ? 100 : 0;  // long enough for a busy machine to fill the pipeline
  return r;
}

TEST(LoadGenerator, PipelinedRequestsAreInFlightTogetherAndAnsweredInOrder) {
  TestHttpServer server(pipelining_reply);
  SystemTimeSource time;
  LoadOptions o = options(1);
  o.pipeline = 4;
  LoadGenerator generator(time, spec_for(server.url("/pipe")), o);
  auto summary = generator.run({{"pipelined", 400, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  // The stalls queued requests: four were out at once, never more.
  EXPECT_EQ(server.max_pipelined(), 4);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(summary->totals.sent, 400);
  EXPECT_EQ(summary->totals.completed, 400);
  EXPECT_EQ(summary->totals.errors, 0) << summary->first_error;
  EXPECT_EQ(summary->totals.status_counts.at(201), 134);  // n % 3 == 0 for n < 400
  EXPECT_EQ(summary->totals.status_counts.at(200), 266);
  // Latency per request: each stalled response's own send-to-response time holds the stall;
  // the requests that waited behind it count theirs from their planned time.
  EXPECT_EQ(summary->totals.latency.count(), 400);
  EXPECT_EQ(summary->totals.latency_actual.count(), 400);
  EXPECT_GE(summary->totals.latency_actual.max(), 95'000'000);
  EXPECT_GE(summary->totals.latency.percentile(99), 30'000'000);
  EXPECT_LT(summary->totals.latency_actual.percentile(50), 20'000'000);
}

TEST(LoadGenerator, WithoutPipeliningOneRequestIsInFlightPerConnection) {
  TestHttpServer server(pipelining_reply);
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url("/one")), options(1));
  auto summary = generator.run({{"serial", 400, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(server.max_pipelined(), 1);
  EXPECT_EQ(summary->totals.completed, 200);
}

TEST(LoadGenerator, ClosedLoopKeepsThePipelineFull) {
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.delay_ms = n == 0 ? 50 : 0;
    return r;
  });
  SystemTimeSource time;
  LoadOptions o = options(1);
  o.pipeline = 8;
  LoadGenerator generator(time, spec_for(server.url("/max")), o);
  auto summary = generator.run({{"max", 0, -1, 300ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(server.max_pipelined(), 8);
  EXPECT_EQ(summary->totals.errors, 0) << summary->first_error;
  EXPECT_EQ(summary->totals.completed, server.requests());
  EXPECT_EQ(summary->totals.sent, summary->totals.completed);
}

TEST(LoadGenerator, RequestsPipelinedBehindAClosingResponseAreErrors) {
  // Request 50 is answered late, with Connection: close; the three requests pipelined behind it
  // are never answered and count as errors. The rest go out on a new connection.
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.delay_ms = n == 50 ? 100 : 0;
    r.close = n == 50;
    return r;
  });
  SystemTimeSource time;
  LoadOptions o = options(1);
  o.pipeline = 4;
  LoadGenerator generator(time, spec_for(server.url("/close")), o);
  auto summary = generator.run({{"closing", 400, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(server.max_pipelined(), 4);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(summary->totals.sent, 400);
  EXPECT_EQ(summary->totals.errors, 3);
  EXPECT_EQ(summary->totals.completed, 397);
  EXPECT_NE(summary->first_error.find("pipelined"), std::string::npos) << summary->first_error;
}

TEST(LoadGenerator, DroppedConnectionsAreErrorsAndPostBodiesAreSent) {
  // Every 10th request is answered by closing the connection.
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.drop = n % 10 == 9;
    return r;
  });
  SystemTimeSource time;
  LoadRequestSpec spec = spec_for(server.url("/post"));
  spec.method = "POST";
  spec.body = std::string(100, 'b');
  LoadGenerator generator(time, spec, options(2));
  auto summary = generator.run({{"drops", 200, -1, 1s}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const LoadTotals& t = summary->totals;
  EXPECT_EQ(t.sent, 200);
  EXPECT_EQ(t.errors, 20);
  EXPECT_EQ(t.completed, 180);
  EXPECT_EQ(t.connect_errors + t.timeouts, 0);
  EXPECT_EQ(server.body_bytes(), 200 * 100);
  EXPECT_NE(summary->first_error.find("closed without a response"), std::string::npos)
      << summary->first_error;
}

TEST(LoadGenerator, MaxRateRunsClosedLoopAndRampsPlanTheirIntegral) {
  TestHttpServer server([](int64_t) { return Reply{}; });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(2));
  std::vector<IntervalStats> seconds;
  auto summary = generator.run({{"max", 0, -1, 300ms}, {"ramp", 0, 400, 1s}},
                               [&](const IntervalStats& s) { seconds.push_back(s); });
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  // 1.3 s of schedule: two seconds. The ramp plans 0 -> 280 req/s over its first 0.7 s (98
  // requests) and 280 -> 400 over the last 0.3 s (102); the max phase plans nothing.
  ASSERT_EQ(seconds.size(), 2u);
  EXPECT_EQ(seconds[0].phase, "max");
  EXPECT_EQ(seconds[1].phase, "ramp");
  EXPECT_NEAR(seconds[0].target_rate, 98, 1e-6);
  EXPECT_NEAR(seconds[1].target_rate, 102, 1e-6);
  ASSERT_EQ(summary->phases.size(), 2u);
  EXPECT_GT(summary->phases[0].totals.completed, 100);
  // Latency in a closed loop counts from the actual send: both histograms agree.
  EXPECT_EQ(summary->phases[0].totals.latency.percentile(90),
            summary->phases[0].totals.latency_actual.percentile(90));
  EXPECT_EQ(summary->phases[1].totals.sent, 200);  // (0 + 400) / 2 * 1 s
  EXPECT_EQ(summary->phases[1].totals.completed, 200);
}

TEST(LoadGenerator, ResponsesCountInTheirRequestsPhaseWhenPhasesMeetInOneSecond) {
  // Two phases inside second 0: 100 requests in the first 0.5 s, 200 in the next. The last ten
  // of the first phase are answered 30 ms late, among the second phase's answers, so one second
  // holds both phases' responses, in turns.
  TestHttpServer server([](int64_t n) {
    Reply r;
    r.delay_ms = n >= 90 && n < 100 ? 30 : 0;
    return r;
  });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(4));
  auto summary = generator.run({{"first", 200, -1, 500ms}, {"second", 400, -1, 500ms}});
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  ASSERT_EQ(summary->phases.size(), 2u);
  const LoadTotals& a = summary->phases[0].totals;
  const LoadTotals& b = summary->phases[1].totals;
  EXPECT_EQ(a.completed, 100);
  EXPECT_EQ(a.latency.count(), 100);
  EXPECT_EQ(a.latency_actual.count(), 100);
  EXPECT_GE(a.latency_actual.max(), 30'000'000);  // the late answers count in their phase
  EXPECT_EQ(b.completed, 200);
  EXPECT_EQ(b.latency.count(), 200);
  EXPECT_EQ(b.latency_actual.count(), 200);
  EXPECT_EQ(a.status_counts.at(200), 100);
  EXPECT_EQ(b.status_counts.at(200), 200);
  EXPECT_EQ(summary->totals.latency.count(), 300);
}

TEST(LoadGenerator, StopEndsTheRunEarly) {
  TestHttpServer server([](int64_t) { return Reply{}; });
  SystemTimeSource time;
  LoadGenerator generator(time, spec_for(server.url()), options(2));
  std::atomic<bool> stop{false};
  int64_t started = time.monotonic_ms();
  auto summary = generator.run(
      {{"long", 100, -1, 30s}}, [&](const IntervalStats&) { stop = true; }, &stop);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_TRUE(summary->stopped);
  EXPECT_LT(time.monotonic_ms() - started, 5000);
  EXPECT_GT(summary->totals.completed, 50);
}

TEST(LoadGenerator, BadUrlAndBadOptionsAreClearErrors) {
  SystemTimeSource time;
  struct Case {
    std::string url;
    LoadOptions options;
    std::vector<LoadPhase> phases;
    std::string code;
  };
  LoadOptions too_many_threads = options(2, 3);
  LoadOptions no_timeout = options(2);
  no_timeout.timeout = 0ms;
  std::vector<Case> cases = {
      {"ftp://127.0.0.1/", options(1), {{"p", 10, -1, 1s}}, "bad_url"},
      {"http://127.0.0.1:99999/", options(1), {{"p", 10, -1, 1s}}, "bad_url"},
      {"http://no-such-host.invalid/", options(1), {{"p", 10, -1, 1s}}, "bad_url"},
      {"http://127.0.0.1:1/", options(0), {{"p", 10, -1, 1s}}, "bad_options"},
      {"http://127.0.0.1:1/", too_many_threads, {{"p", 10, -1, 1s}}, "bad_options"},
      {"http://127.0.0.1:1/", no_timeout, {{"p", 10, -1, 1s}}, "bad_options"},
      {"http://127.0.0.1:1/", options(1), {}, "bad_options"},
      {"http://127.0.0.1:1/", options(1), {{"p", -5, -1, 1s}}, "bad_options"},
      {"http://127.0.0.1:1/", options(1), {{"p", 10, -7, 1s}}, "bad_options"},
      {"http://127.0.0.1:1/", options(1), {{"p", 10, -1, 0s}}, "bad_options"},
  };
  for (const auto& c : cases) {
    LoadGenerator generator(time, spec_for(c.url), c.options);
    auto checked = generator.check(c.phases);
    ASSERT_FALSE(checked.ok()) << c.url;
    EXPECT_EQ(checked.error().code, c.code) << c.url << ": " << checked.error().message;
    auto r = generator.run(c.phases);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.error().code, c.code) << c.url << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
  LoadGenerator fine(time, spec_for("http://127.0.0.1:1/"), options(1));
  EXPECT_TRUE(fine.check({{"p", 10, -1, 1s}}).ok());
  LoadRequestSpec bad_ca = spec_for("https://127.0.0.1:1/");
  bad_ca.ca_file = "/nonexistent/ca.pem";
  LoadGenerator generator(time, bad_ca, options(1));
  auto r = generator.run({{"p", 10, -1, 1s}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_options");
}

}  // namespace
}  // namespace gatedrill
