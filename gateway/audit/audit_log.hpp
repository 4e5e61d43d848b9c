#pragma once
// The decision log: one JSON line per request decision, written by a background thread so the
// request path only enqueues (never blocks: a full queue drops the record and counts it), with
// size-based rotation (path -> path.1 -> ... -> path.N).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/util/result.hpp"
#include "core/util/shared_string.hpp"
#include "gateway/audit/drop_queue.hpp"

namespace gatedrill::gateway {

struct AuditRecord {
  std::string decision_id;
  int64_t time_ms = 0;  // wall clock of the node (skewed like everything else)
  std::string node;
  SharedString identity;
  std::string route;
  std::string method;
  std::string path;
  int status = 0;
  std::string reason;
  SharedString policy_version;
  int64_t latency_us = 0;
  // gRPC calls (written only for them): the final grpc-status and the DATA bytes each way.
  int grpc_status = -1;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
};

// The JSON line (no trailing newline).
std::string audit_json(const AuditRecord& record);

struct AuditLogOptions {
  std::string path;
  size_t max_file_bytes = 64u << 20;  // rotate past this
  int keep_files = 3;                 // rotated files kept besides the current one
  size_t queue_capacity = 65536;      // records waiting; more are dropped
};

class AuditLog {
 public:
  explicit AuditLog(AuditLogOptions options);
  ~AuditLog();  // stop()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (appends to) the file and starts the writer. Errors: "audit_open".
  Result<void> start();
  // Writes what is queued, then stops.
  void stop();

  // Never blocks on I/O. False when the record was dropped (queue full or not started).
  bool submit(AuditRecord record);
  // Blocks until everything submitted so far is written (tests, shutdown).
  void flush();

  uint64_t written() const;
  uint64_t dropped() const;
  uint64_t rotations() const;

 private:
  size_t write_batch(std::vector<AuditRecord>& batch);
  void write_line(const std::string& line);
  void rotate();

  const AuditLogOptions options_;
  std::atomic<uint64_t> rotations_{0};
  std::FILE* file_ = nullptr;  // writer thread only (and start/stop)
  size_t file_bytes_ = 0;
  DropQueue<AuditRecord> queue_;  // last: its thread stops before the members above go
};

}  // namespace gatedrill::gateway
