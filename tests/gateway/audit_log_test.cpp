#include "gateway/audit/audit_log.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/json.hpp"

namespace gatedrill::gateway {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "gw-audit-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  static AuditRecord record(int i) {
    AuditRecord r;
    r.decision_id = "d" + std::to_string(i);
    r.identity = "alice";
    r.route = "items";
    r.method = "GET";
    r.path = "/items/\"quoted\"\n";
    r.status = 200;
    r.reason = "ok";
    return r;
  }
  std::string dir_;
};

TEST_F(AuditLogTest, OneValidJsonLinePerRecord) {
  AuditLog log({dir_ + "/audit.log", 1 << 20, 2, 1000});
  ASSERT_TRUE(log.start());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log.submit(record(i)));
  log.flush();
  EXPECT_EQ(log.written(), 100u);
  auto all = lines(dir_ + "/audit.log");
  ASSERT_EQ(all.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    auto doc = parse_json_object(all[i]);
    ASSERT_TRUE(doc) << all[i];
    EXPECT_EQ(doc->at("decision_id").as_string(), "d" + std::to_string(i));
    EXPECT_EQ(doc->at("path").as_string(), "/items/\"quoted\"\n");
    EXPECT_EQ(doc->at("status").as_int64(), 200);
  }
}

TEST_F(AuditLogTest, RotatesBySizeAndKeepsNFiles) {
  const std::string path = dir_ + "/audit.log";
  AuditLog log({path, 2000, 2, 100000});
  ASSERT_TRUE(log.start());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(log.submit(record(i)));
  log.flush();
  log.stop();
  EXPECT_GT(log.rotations(), 2u);
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  for (auto p : {path, path + ".1", path + ".2"}) {
    EXPECT_LE(std::filesystem::file_size(p), 2000u) << p;
    for (const auto& line : lines(p)) EXPECT_TRUE(parse_json_object(line)) << line;
  }
  // The newest records are in the current file.
  auto current = lines(path);
  ASSERT_FALSE(current.empty());
  EXPECT_EQ(parse_json_object(current.back())->at("decision_id").as_string(), "d199");
}

TEST_F(AuditLogTest, DropsInsteadOfBlockingWhenFullOrStopped) {
  AuditLog never_started({dir_ + "/a.log", 1 << 20, 1, 10});
  EXPECT_FALSE(never_started.submit(record(1)));
  EXPECT_EQ(never_started.dropped(), 1u);

  AuditLog zero({dir_ + "/b.log", 1 << 20, 1, 0});
  ASSERT_TRUE(zero.start());
  EXPECT_FALSE(zero.submit(record(1)));
  EXPECT_EQ(zero.dropped(), 1u);
}

TEST_F(AuditLogTest, StopWritesWhatWasQueued) {
  const std::string path = dir_ + "/audit.log";
  {
    AuditLog log({path, 1 << 20, 1, 100000});
    ASSERT_TRUE(log.start());
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(log.submit(record(i)));
  }  // destructor stops
  EXPECT_EQ(lines(path).size(), 1000u);
}

TEST_F(AuditLogTest, UnwritablePathIsAnError) {
  AuditLog log({dir_ + "/missing/dir/audit.log", 1 << 20, 1, 10});
  auto started = log.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, "audit_open");
}

}  // namespace
}  // namespace gatedrill::gateway
