#include "core/time/time_source.hpp"

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(ManualTimeSource, StartsAtTheGivenWallTimeAndMonotonicZero) {
  ManualTimeSource clock;
  EXPECT_EQ(clock.monotonic_ns(), 0);
  EXPECT_EQ(clock.wall_seconds(), 1767225600);  // 2026-01-01T00:00:00Z
  ManualTimeSource other(std::chrono::system_clock::time_point(seconds(1000)));
  EXPECT_EQ(other.wall_ms(), 1'000'000);
}

TEST(ManualTimeSource, AdvanceMovesBothClocks) {
  ManualTimeSource clock;
  int64_t wall_before = clock.wall_ms();
  clock.advance(milliseconds(1500));
  EXPECT_EQ(clock.monotonic_ms(), 1500);
  EXPECT_EQ(clock.monotonic_ns(), 1'500'000'000);
  EXPECT_EQ(clock.wall_ms() - wall_before, 1500);
  clock.advance(nanoseconds(250));
  EXPECT_EQ(clock.monotonic_ns(), 1'500'000'250);
}

TEST(ManualTimeSource, SkewMovesOnlyTheWallClock) {
  ManualTimeSource clock;
  clock.advance(seconds(10));
  int64_t wall = clock.wall_ms();
  int64_t mono = clock.monotonic_ns();
  clock.set_skew(seconds(300));
  EXPECT_EQ(clock.skew(), milliseconds(300'000));
  EXPECT_EQ(clock.wall_ms(), wall + 300'000);
  EXPECT_EQ(clock.monotonic_ns(), mono);
  clock.set_skew(milliseconds(-5000));  // behind is allowed too
  EXPECT_EQ(clock.wall_ms(), wall - 5000);
  clock.advance(seconds(1));
  EXPECT_EQ(clock.wall_ms(), wall - 4000);
  EXPECT_EQ(clock.monotonic_ns(), mono + 1'000'000'000);
  clock.set_skew(milliseconds(0));
  EXPECT_EQ(clock.wall_ms(), wall + 1000);
}

TEST(SystemTimeSource, SkewShiftsTheWallClockButNotTheMonotonicOne) {
  SystemTimeSource clock;
  EXPECT_EQ(clock.skew(), milliseconds(0));
  int64_t mono_before = clock.monotonic_ns();
  int64_t unskewed = clock.wall_ms();
  clock.set_skew(seconds(300));
  int64_t skewed = clock.wall_ms();
  int64_t mono_after = clock.monotonic_ns();
  EXPECT_GE(mono_after, mono_before);
  // The two wall reads are microseconds apart; allow a generous 5 s for a loaded machine.
  EXPECT_GE(skewed - unskewed, 300'000);
  EXPECT_LT(skewed - unskewed, 305'000);
  EXPECT_LT(mono_after - mono_before, 5'000'000'000);  // monotonic did not jump by the skew
  clock.set_skew(seconds(-300));
  EXPECT_EQ(clock.skew(), milliseconds(-300'000));
  EXPECT_LT(clock.wall_ms(), unskewed - 290'000);
}

}  // namespace
}  // namespace gatedrill
