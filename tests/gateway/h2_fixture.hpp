#pragma once
// The HTTP/2 tests' fixture: a gateway in-process between the fake IdP and upstream, and h2c
// helpers (one GET on a fresh connection, a Bearer header, a metric of this gateway).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway_test_support.hpp"
#include "h2_test_client.hpp"

namespace gatedrill::gateway::test {

// A gRPC message frame: compressed flag 0, 4-byte big-endian length, payload.
inline std::string grpc_frame(const std::string& payload) {
  std::string out(5, '\0');
  out[3] = static_cast<char>((payload.size() >> 8) & 0xff);
  out[4] = static_cast<char>(payload.size() & 0xff);
  return out + payload;
}

class H2GatewayTest : public ::testing::Test {
 protected:
  void start(GatewayConfig config) {
    gateway_ = std::make_unique<Gateway>(time_, std::move(config));
    auto started = gateway_->start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void start() { start(base_config(idp_, upstream_.url())); }

  std::pair<std::string, std::string> bearer() const {
    return {"authorization", "Bearer " + idp_.token(time_.wall_seconds())};
  }

  // One GET /api/items on a fresh h2c connection.
  H2TestClient::Reply get_once(std::vector<std::pair<std::string, std::string>> headers) {
    H2TestClient client(gateway_->port(), false);
    EXPECT_TRUE(client.connected());
    const int32_t id = client.submit("GET", "/api/items", std::move(headers));
    EXPECT_GT(id, 0);
    EXPECT_TRUE(client.run_all());
    return client.replies()[id];
  }

  double metric_value(const std::string& sample) const {
    return metric(gateway_->admin_port(), sample);
  }

  SystemTimeSource time_;
  FakeIdp idp_;
  FakeUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace gatedrill::gateway::test
