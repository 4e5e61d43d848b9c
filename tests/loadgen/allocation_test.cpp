// The load loop allocates nothing per request once warmed up (PERFORMANCE.md): pre-built
// requests, fixed buffers, histograms recorded in place. Counted with a replaced global
// operator new over every thread except the test server's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>

#include "loadgen/load_generator.hpp"
#include "tests/loadgen/test_h2_server.hpp"
#include "tests/loadgen/test_http_server.hpp"

// g++ sees the replaced operator delete free() what its own inlined operator new returned and
// warns; both are ours and match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<int64_t> g_allocations{0};
thread_local bool t_uncounted = false;
}  // namespace

void* operator new(std::size_t size) {
  if (!t_uncounted) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace gatedrill {
namespace {

using namespace std::chrono_literals;

// Allocations during one 1-second run at `rate` over 4 connections (HTTP/2: 2 connections of
// up to 4 streams; nghttp2 allocates through the session's pool, whose fresh blocks come from
// the counted operator new).
int64_t allocations_for(double rate, int64_t* completed, bool h2 = false) {
  auto uncounted = [] { t_uncounted = true; };
  std::unique_ptr<testing::TestHttpServer> h1_server;
  std::unique_ptr<testing::TestH2Server> h2_server;
  if (h2)
    h2_server = std::make_unique<testing::TestH2Server>(nullptr, uncounted);
  else
    h1_server = std::make_unique<testing::TestHttpServer>([](int64_t) { return testing::Reply{}; },
                                                          nullptr, uncounted);
  LoadRequestSpec spec;
  spec.url = h2 ? h2_server->url() : h1_server->url();
  spec.bearer_tokens = {"token-one", "token-two", "token-three"};
  LoadOptions options;
  options.connections = h2 ? 2 : 4;
  options.h2 = h2;
  options.streams = h2 ? 4 : 1;
  SystemTimeSource time;
  LoadGenerator generator(time, spec, options);
  int64_t before = g_allocations.load();
  auto summary = generator.run({{"p", rate, -1, 1s}});
  int64_t after = g_allocations.load();
  EXPECT_TRUE(summary.ok());
  *completed = summary.ok() ? summary->totals.completed : 0;
  return after - before;
}

TEST(LoadGeneratorAllocations, DoNotGrowWithTheNumberOfRequests) {
  int64_t few_done = 0, many_done = 0;
  int64_t few = allocations_for(100, &few_done);
  int64_t many = allocations_for(2000, &many_done);
  ASSERT_EQ(few_done, 100);
  ASSERT_EQ(many_done, 2000);
  // Set-up and the once-a-second merge allocate the same in both runs; 1900 more requests may
  // add a handful (an extra second's tally), never one per request.
  EXPECT_LT(many - few, 100) << "few: " << few << " many: " << many;
}

TEST(LoadGeneratorAllocations, Http2DoesNotGrowWithTheNumberOfRequests) {
  int64_t few_done = 0, many_done = 0;
  int64_t few = allocations_for(100, &few_done, true);
  int64_t many = allocations_for(2000, &many_done, true);
  ASSERT_EQ(few_done, 100);
  ASSERT_EQ(many_done, 2000);
  // Streams reuse the pooled blocks of the streams before them; more requests may reach a
  // higher peak of concurrent streams (a few more blocks), never a block per request.
  EXPECT_LT(many - few, 100) << "few: " << few << " many: " << many;
}

}  // namespace
}  // namespace gatedrill
