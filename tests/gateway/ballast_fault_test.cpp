// The gateway's ballast fault: bad parameters are refused with a specific message, a ballast
// becomes resident memory (so the overload manager and a memory limit see it), and clearing it
// gives the memory back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <boost/json/object.hpp>

#include "core/admin/faults.hpp"
#include "core/time/time_source.hpp"
#include "gateway/overload/ballast_fault.hpp"
#include "gateway/overload/overload_manager.hpp"

namespace gatedrill::gateway {
namespace {

using ::testing::HasSubstr;

TEST(BallastFault, BadParametersAreRefused) {
  SystemTimeSource time;
  FaultRegistry faults(time);
  register_ballast_fault(faults);
  auto missing = faults.add("ballast", {});
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("needs \"bytes\""));
  auto negative = faults.add("ballast", boost::json::object{{"bytes", -5}});
  ASSERT_FALSE(negative);
  EXPECT_THAT(negative.error().message, HasSubstr("bytes must be from 1"));
  auto ramp = faults.add("ballast", boost::json::object{{"bytes", 1024}, {"ramp_ms", -1}});
  ASSERT_FALSE(ramp);
  EXPECT_THAT(ramp.error().message, HasSubstr("ramp_ms must be from 0"));
  auto text = faults.add("ballast", boost::json::object{{"bytes", "lots"}});
  EXPECT_FALSE(text);
}

TEST(BallastFault, BecomesResidentAndIsGivenBack) {
  SystemTimeSource time;
  FaultRegistry faults(time);
  register_ballast_fault(faults);
  const int64_t before = resident_memory_bytes();
  ASSERT_GT(before, 0);
  constexpr int64_t kBallast = 64 << 20;
  auto id = faults.add("ballast", boost::json::object{{"bytes", kBallast}});
  ASSERT_TRUE(id) << id.error().message;
  // Allocated on the fault's own thread: poll until it is all resident (bounded).
  int64_t grown = 0;
  for (int i = 0; i < 500 && grown < kBallast * 9 / 10; ++i) {
    grown = resident_memory_bytes() - before;
    if (grown < kBallast * 9 / 10) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(grown, kBallast * 9 / 10);
  ASSERT_TRUE(faults.remove(*id));
  EXPECT_LT(resident_memory_bytes() - before, kBallast / 4);
}

}  // namespace
}  // namespace gatedrill::gateway
