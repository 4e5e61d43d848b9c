#include "core/util/cli.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gatedrill {
namespace {

// argv for the parser: argv[0] is the program.
struct Args {
  explicit Args(std::vector<std::string> args) : storage(std::move(args)) {
    storage.insert(storage.begin(), "gatedrill");
    for (auto& s : storage) pointers.push_back(s.data());
  }
  int argc() { return static_cast<int>(pointers.size()); }
  char** argv() { return pointers.data(); }
  std::vector<std::string> storage;
  std::vector<char*> pointers;
};

struct Flags {
  std::string target;
  int64_t rate = 0;
  double ratio = 0;
  std::vector<std::string> params;
  bool verbose = false;
  std::string scenario, output;

  ArgParser parser() {
    ArgParser p("run", "Runs a scenario.");
    p.option("target", &target, "gateway URL");
    p.option("rate", &rate, "requests per second");
    p.option("ratio", &ratio, "a fraction");
    p.repeated("param", &params, "NAME=VALUE");
    p.flag("verbose", &verbose, "say more");
    p.positional("scenario", &scenario, "scenario file");
    p.positional("output", &output, "report file", false);
    return p;
  }
};

TEST(ArgParser, ReadsValuesSwitchesAndPositionals) {
  Flags f;
  auto p = f.parser();
  Args a({"--target", "https://gw", "--rate=2000", "--ratio", "0.25", "--param", "A=1",
          "--param=B=2", "--verbose", "x.lua", "out.html"});
  auto r = p.parse(a.argc(), a.argv());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(f.target, "https://gw");
  EXPECT_EQ(f.rate, 2000);
  EXPECT_EQ(f.ratio, 0.25);
  EXPECT_EQ(f.params, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_TRUE(f.verbose);
  EXPECT_EQ(f.scenario, "x.lua");
  EXPECT_EQ(f.output, "out.html");
  EXPECT_FALSE(p.help_requested());
}

TEST(ArgParser, UnknownOptionSuggestsTheClosestOne) {
  Flags f;
  auto p = f.parser();
  Args a({"--rat", "5", "x.lua"});
  auto r = p.parse(a.argc(), a.argv());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "usage");
  EXPECT_NE(r.error().message.find("unknown option --rat"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("did you mean --rate?"), std::string::npos) << r.error().message;

  Flags g;
  auto q = g.parser();
  Args far({"--zzzzzzzz", "x.lua"});
  auto r2 = q.parse(far.argc(), far.argv());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message.find("did you mean"), std::string::npos) << r2.error().message;
}

TEST(ArgParser, ReportsMissingAndMalformedValues) {
  {
    Flags f;
    auto p = f.parser();
    Args a({"x.lua", "--target"});
    auto r = p.parse(a.argc(), a.argv());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("--target needs a value"), std::string::npos)
        << r.error().message;
  }
  {
    Flags f;
    auto p = f.parser();
    Args a({"--rate", "fast", "x.lua"});
    auto r = p.parse(a.argc(), a.argv());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("whole number"), std::string::npos) << r.error().message;
  }
  {
    Flags f;
    auto p = f.parser();
    Args a({"--verbose=yes", "x.lua"});
    auto r = p.parse(a.argc(), a.argv());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("takes no value"), std::string::npos) << r.error().message;
  }
  {
    Flags f;
    auto p = f.parser();
    Args a({"--verbose"});
    auto r = p.parse(a.argc(), a.argv());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("missing scenario"), std::string::npos) << r.error().message;
  }
  {
    Flags f;
    auto p = f.parser();
    Args a({"a.lua", "b.html", "c"});
    auto r = p.parse(a.argc(), a.argv());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unexpected argument 'c'"), std::string::npos)
        << r.error().message;
  }
}

TEST(ArgParser, DoubleDashEndsOptionsAndHelpIsNoError) {
  Flags f;
  auto p = f.parser();
  Args a({"--", "--verbose"});
  ASSERT_TRUE(p.parse(a.argc(), a.argv()));
  EXPECT_EQ(f.scenario, "--verbose");
  EXPECT_FALSE(f.verbose);

  Flags g;
  auto q = g.parser();
  Args help({"--help"});
  ASSERT_TRUE(q.parse(help.argc(), help.argv()));
  EXPECT_TRUE(q.help_requested());
  std::string usage = q.usage();
  EXPECT_NE(usage.find("usage: gatedrill run"), std::string::npos) << usage;
  // A program of its own (gatedrill-gui) is named as it is typed, not as a subcommand.
  std::string own = ArgParser("gatedrill-gui", "The dashboard.").usage();
  EXPECT_EQ(own.rfind("usage: gatedrill-gui\n", 0), 0u) << own;
  EXPECT_NE(usage.find("--rate N"), std::string::npos) << usage;
  EXPECT_EQ(parse_or_exit_code(q, help.argc(), help.argv()), 0);
  Flags h;
  auto bad = h.parser();
  Args wrong({"--nope"});
  EXPECT_EQ(parse_or_exit_code(bad, wrong.argc(), wrong.argv()), 2);
  Flags k;
  auto good = k.parser();
  Args fine({"x.lua"});
  EXPECT_EQ(parse_or_exit_code(good, fine.argc(), fine.argv()), -1);
}

}  // namespace
}  // namespace gatedrill
