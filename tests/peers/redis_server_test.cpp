// A real redis-server under the Supervisor: it answers on its loopback port with persistence
// off, and the hang / resume / kill / restart faults do what a drill expects.
#include "scenarios/peers/redis_server.hpp"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/programs_on_path.hpp"

namespace gatedrill {
namespace {

using std::chrono::milliseconds;

using test::redis_installed;

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redis_installed()) GTEST_SKIP() << "redis-server is not installed";
    std::string tmpl = (std::filesystem::temp_directory_path() / "gatedrill-redis-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    RedisServerOptions options;
    options.work_dir = dir_;
    redis_ = std::make_unique<RedisServer>(supervisor_, time_, options);
    auto started = redis_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    redis_.reset();
    supervisor_.stop_all(milliseconds(2000));
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  RespClient client() {
    auto c = RespClient::connect("127.0.0.1", redis_->port(), milliseconds(2000));
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return std::move(*c);
  }

  SystemTimeSource time_;
  Supervisor supervisor_{time_};
  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisServerTest, AnswersOnLoopbackWithPersistenceOff) {
  auto c = client();
  auto replies = c.pipeline({{"SET", "jti:abc", "revoked"},
                             {"GET", "jti:abc"},
                             {"CONFIG", "GET", "save"},
                             {"CONFIG", "GET", "appendonly"},
                             {"CONFIG", "GET", "bind"}});
  ASSERT_TRUE(replies.ok()) << replies.error().message;
  EXPECT_EQ((*replies)[0], resp::Value::simple("OK"));
  EXPECT_EQ((*replies)[1], resp::Value::bulk("revoked"));
  EXPECT_EQ((*replies)[2].elements.at(1), resp::Value::bulk(""));
  EXPECT_EQ((*replies)[3].elements.at(1), resp::Value::bulk("no"));
  EXPECT_EQ((*replies)[4].elements.at(1), resp::Value::bulk("127.0.0.1"));
  auto error = c.command({"NOSUCHCOMMAND"});
  ASSERT_TRUE(error.ok());
  EXPECT_TRUE(error->is_error());
  EXPECT_EQ(redis_->url(), "redis://127.0.0.1:" + std::to_string(redis_->port()));
}

TEST_F(RedisServerTest, HangStopsAnswersUntilResumed) {
  ASSERT_TRUE(redis_->hang().ok());
  auto stalled = redis_->ping(milliseconds(300));
  ASSERT_FALSE(stalled.ok());
  EXPECT_EQ(stalled.error().code, "timeout");
  ASSERT_TRUE(redis_->resume().ok());
  EXPECT_TRUE(redis_->wait_ready(milliseconds(3000)).ok());
}

TEST_F(RedisServerTest, KillEndsWith137AndRestartComesBackEmptyOnTheSamePort) {
  {
    auto c = client();
    ASSERT_TRUE(c.command({"SET", "k", "v"}).ok());
  }
  const uint16_t port = redis_->port();
  auto killed = redis_->kill();
  ASSERT_TRUE(killed.ok()) << killed.error().message;
  EXPECT_EQ(*killed, 137);
  EXPECT_FALSE(redis_->ping(milliseconds(300)).ok());
  EXPECT_FALSE(redis_->pid().has_value());

  auto restarted = redis_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error().message;
  EXPECT_EQ(redis_->port(), port);
  auto c = client();
  auto value = c.command({"GET", "k"});
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, resp::Value::null());  // nothing was persisted
}

TEST_F(RedisServerTest, StopEndsTheProcessEvenWhenHung) {
  const auto pid = redis_->pid();
  ASSERT_TRUE(pid.has_value());
  ASSERT_TRUE(redis_->hang().ok());
  auto stopped = redis_->stop(milliseconds(2000));
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_FALSE(redis_->pid().has_value());
  EXPECT_NE(::kill(*pid, 0), 0);
}

TEST(RedisServerStart, ReportsARedisThatCannotStart) {
  if (!redis_installed()) GTEST_SKIP() << "redis-server is not installed";
  SystemTimeSource time;
  Supervisor supervisor(time);
  std::string tmpl = (std::filesystem::temp_directory_path() / "gatedrill-redis-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  RedisServerOptions options;
  options.work_dir = tmpl;
  options.executable = "redis-server";
  options.name = "clash";
  // Occupy the port so the second redis exits at once.
  RedisServerOptions first_options = options;
  first_options.name = "first";
  RedisServer first(supervisor, time, first_options);
  ASSERT_TRUE(first.start().ok());
  options.port = first.port();
  RedisServer clash(supervisor, time, options);
  auto started = clash.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, "exited") << started.error().message;
  EXPECT_TRUE(RedisServer(supervisor, time, RedisServerOptions{}).start().error().code ==
              "bad_options");
  (void)first.stop();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace gatedrill
