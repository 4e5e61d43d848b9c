#pragma once
// The gRPC tests' fixture: a gateway in-process routing /pkg.Svc to a cluster "grpc" (an
// h2_test_upstream), calls on one client connection, and their statuses and metrics.
#include <chrono>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/util/json.hpp"
#include "h2_fixture.hpp"
#include "h2_test_upstream.hpp"

namespace gatedrill::gateway::test {

class GrpcGatewayTest : public H2GatewayTest {
 protected:
  void TearDown() override {
    if (gateway_) gateway_->stop();
  }

  // Routes /pkg.Svc to the cluster "grpc" at `url`; `fields` adds to its JSON entry.
  void start_cluster(const std::string& url, const std::string& fields = "") {
    auto config = base_config(idp_, upstream_.url());
    config.routes =
        *RouteTable::from_json(R"([{"name": "svc", "prefix": "/pkg.Svc", "cluster": "grpc"}])");
    auto clusters = parse_clusters_json(
        R"([{"name": "grpc", "endpoints": [")" + url + "\"]" + fields + "}]", ClusterOptions{});
    ASSERT_TRUE(clusters) << clusters.error().message;
    config.data.clusters = std::move(*clusters);
    config.audit = AuditLogOptions{audit_file_, 1 << 20, 1, 1000};
    start(std::move(config));
  }

  // The decision log's records so far.
  std::vector<boost::json::object> audit_records() {
    gateway_->flush_audit();
    std::ifstream in(audit_file_);
    std::vector<boost::json::object> records;
    for (std::string line; std::getline(in, line);)
      if (auto doc = parse_json_object(line)) records.push_back(*doc);
    return records;
  }

  // The calls, all at once on one client connection; their replies in order.
  std::vector<H2TestClient::Reply> calls(
      const std::vector<std::string>& paths,
      const std::vector<std::pair<std::string, std::string>>& extra = {},
      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    H2TestClient client(gateway_->port(), false);
    EXPECT_TRUE(client.connected());
    std::vector<std::pair<std::string, std::string>> headers = {
        {"content-type", "application/grpc"}, {"te", "trailers"}, bearer()};
    headers.insert(headers.end(), extra.begin(), extra.end());
    std::vector<int32_t> ids;
    for (size_t i = 0; i < paths.size(); ++i)
      ids.push_back(client.submit("POST", paths[i], headers, grpc_frame("m" + std::to_string(i))));
    EXPECT_TRUE(client.run_all(limit));
    std::vector<H2TestClient::Reply> out;
    for (int32_t id : ids) out.push_back(client.replies()[id]);
    return out;
  }

  static std::string grpc_status(H2TestClient::Reply& r) {
    return r.headers.count("grpc-status") ? r.headers["grpc-status"] : r.trailers["grpc-status"];
  }

  double cluster_metric(const std::string& name) const {
    return metric_value("gatedrill_gateway_cluster_" + name + "{cluster=\"grpc\"}");
  }

  TestDir dir_{"gw-grpc-"};
  std::string audit_file_ = dir_.path("decisions.log");
};

}  // namespace gatedrill::gateway::test
