// The drills command without processes: finding and listing drills, and the errors a user sees
// for a drill that does not exist or does not validate.
#include "scenarios/drills_command.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace gatedrill {
namespace {

using ::testing::HasSubstr;

constexpr const char* kValidDrill = R"(
scenario { name = "alpha", description = "a test drill", seeds = { "000", "003" } }
local short = param("SHORT", 0) == 1
load { { name = "steady", rate = 100, duration = short and 3 or 10 } }
at("1s", function() fault.clock_skew { node = "gw-1", offset = "+10m", duration = "1s" } end)
expect { during("clock_skew", { node = "gw-1", status_401_share = "> 95%" }) }
)";

class DrillsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "drills_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0755);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  int command(std::vector<std::string> args) {
    args.insert(args.begin(), "drills");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return drills_command(static_cast<int>(args.size()), argv.data());
  }
  std::string dir_;
};

TEST_F(DrillsCommandTest, ListsDrillsSortedWithSeedsAndDescriptionAndFlagsInvalidOnes) {
  write(
      "beta.lua",
      "scenario { name = 'beta' }\nload { { name = 'x', rate = 10, duration = '1s' } }\nbogus()\n");
  write("alpha.lua", kValidDrill);
  write("notes.txt", "not a drill");
  auto drills = list_drills(dir_);
  ASSERT_TRUE(drills) << drills.error().message;
  ASSERT_EQ(drills->size(), 2u);
  EXPECT_EQ((*drills)[0].name, "alpha");
  EXPECT_EQ((*drills)[0].description, "a test drill");
  EXPECT_EQ((*drills)[0].seeds, (std::vector<std::string>{"000", "003"}));
  EXPECT_EQ((*drills)[0].error, "");
  EXPECT_EQ((*drills)[1].name, "beta");
  EXPECT_THAT((*drills)[1].error, HasSubstr("beta.lua:3"));
  // A library with an invalid drill is an error for `drills list`.
  EXPECT_EQ(command({"list", "--dir", dir_}), 1);
}

TEST_F(DrillsCommandTest, UnknownDrillIsAClearErrorNamingTheKnownOnes) {
  write("alpha.lua", kValidDrill);
  auto found = find_drill(dir_, "alpha");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, dir_ + "/alpha.lua");
  auto missing = find_drill(dir_, "alpah");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "unknown_drill");
  EXPECT_THAT(missing.error().message, HasSubstr("no drill named 'alpah'"));
  EXPECT_THAT(missing.error().message, HasSubstr("drills: alpha"));
  // The command refuses before starting anything: a usage error.
  EXPECT_EQ(command({"run", "alpah", "--dir", dir_}), 2);
  EXPECT_EQ(command({"run", "--dir", dir_}), 2);  // neither NAME nor --all
  EXPECT_EQ(command({"frobnicate"}), 2);
}

TEST_F(DrillsCommandTest, MissingFolderIsAnError) {
  auto drills = list_drills(dir_ + "/nope");
  ASSERT_FALSE(drills);
  EXPECT_EQ(drills.error().code, "drills_dir");
  EXPECT_EQ(command({"list", "--dir", dir_ + "/nope"}), 1);
}

// Every drill in the library validates (nothing is started), accepts short mode, and says what
// it is about.
TEST(DrillLibraryTest, EveryDrillLoadsInBothModesAndDescribesItself) {
  auto drills = list_drills(default_drills_dir());
  ASSERT_TRUE(drills) << drills.error().message;
  ASSERT_FALSE(drills->empty());
  for (const auto& d : *drills) {
    EXPECT_EQ(d.error, "") << d.name;
    EXPECT_FALSE(d.description.empty()) << d.name;
    EXPECT_FALSE(d.seeds.empty()) << d.name;
  }
}

}  // namespace
}  // namespace gatedrill
