#pragma once
// SIEM mirroring (seed 003): a copy of each decision's request metadata and headers — never the
// body, and never the value of Authorization, Proxy-Authorization or Cookie — sent to a
// security tool for behaviour analysis. Off the request path: the gateway only enqueues; a
// background thread sends JSON lines (UDP: one datagram per record; HTTP: batches POSTed as
// NDJSON). When the sink is slow the bounded queue fills and records are dropped and counted,
// never waited for.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/http/http_client.hpp"
#include "core/http/http_message.hpp"
#include "core/util/result.hpp"
#include "core/util/shared_string.hpp"
#include "gateway/audit/drop_queue.hpp"

namespace gatedrill::gateway {

struct SiemOptions {
  std::string url;  // udp://127.0.0.1:P or http://127.0.0.1:P/path
  size_t queue_capacity = 10000;
  size_t batch_max = 200;  // records per POST (HTTP) or per wake-up (UDP)
  std::chrono::milliseconds timeout{1000};
};

// Checks the URL (udp:// or http://, loopback or any host). Errors: "usage".
Result<void> check_siem_url(const std::string& url);

struct SiemRecord {
  std::string decision_id;
  int64_t time_ms = 0;
  std::string node;
  std::string remote;
  std::string method;
  std::string target;  // path and query as sent
  std::string route;
  SharedString identity;
  int status = 0;
  std::string reason;
  SharedString policy_version;
  HeaderList headers;  // the client's, sensitive values already redacted
};

// The record as one JSON object (no newline).
std::string siem_json(const SiemRecord& record);
// Header value as mirrored: "[redacted]" for credentials, else as sent.
std::string siem_header_value(std::string_view name, std::string_view value);

class SiemMirror {
 public:
  explicit SiemMirror(SiemOptions options);
  ~SiemMirror();  // stop()
  SiemMirror(const SiemMirror&) = delete;
  SiemMirror& operator=(const SiemMirror&) = delete;

  // Resolves the sink and starts the sender. Errors: "siem_config".
  Result<void> start();
  void stop();  // sends what is queued (bounded by the timeout), then stops

  // Never blocks on I/O. False when dropped (queue full, or not started).
  bool submit(SiemRecord record);
  // Blocks until the queue is empty and nothing is being sent (tests).
  void flush();

  uint64_t sent() const;     // records handed to the sink
  uint64_t dropped() const;  // queue full, or the sink refused/failed
  uint64_t queued() const;

 private:
  size_t send_batch(std::vector<SiemRecord>& batch);
  bool send_udp(const std::string& line);
  bool send_http(const std::string& body);

  const SiemOptions options_;
  bool udp_ = false;
  int fd_ = -1;
  DropQueue<SiemRecord> queue_;  // after the sink: its thread stops first
};

}  // namespace gatedrill::gateway
