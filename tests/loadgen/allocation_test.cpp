// The load loop allocates nothing per request once warmed up (PERFORMANCE.md): pre-built
// requests, fixed buffers, histograms recorded in place. Counted with a replaced global
// operator new over every thread except the test server's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include "loadgen/load_generator.hpp"
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

// Allocations during one 1-second run at `rate` over 4 connections.
int64_t allocations_for(double rate, int64_t* completed) {
  testing::TestHttpServer server([](int64_t) { return testing::Reply{}; }, nullptr,
                                 [] { t_uncounted = true; });
  LoadRequestSpec spec;
  spec.url = server.url();
  spec.bearer_tokens = {"token-one", "token-two", "token-three"};
  LoadOptions options;
  options.connections = 4;
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

}  // namespace
}  // namespace gatedrill
