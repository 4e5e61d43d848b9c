#include "gateway/audit/audit_log.hpp"

#include <sys/stat.h>

#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace gatedrill::gateway {

std::string audit_json(const AuditRecord& r) {
  boost::json::object o{{"decision_id", r.decision_id},
                        {"time_ms", r.time_ms},
                        {"node", r.node},
                        {"identity", r.identity.view()},
                        {"route", r.route},
                        {"method", r.method},
                        {"path", r.path},
                        {"status", r.status},
                        {"reason", r.reason},
                        {"policy_version", r.policy_version.view()},
                        {"latency_us", r.latency_us}};
  if (r.grpc_status >= 0) {
    o["grpc_status"] = r.grpc_status;
    o["request_bytes"] = r.request_bytes;
    o["response_bytes"] = r.response_bytes;
  }
  return boost::json::serialize(o);  // escapes whatever a client put in the path
}

AuditLog::AuditLog(AuditLogOptions options)
    : options_(std::move(options)), queue_({options_.queue_capacity, 0, true}) {}

AuditLog::~AuditLog() {
  stop();
}

Result<void> AuditLog::start() {
  file_ = std::fopen(options_.path.c_str(), "a");
  if (!file_) return make_error("audit_open", "cannot open audit log " + options_.path);
  struct stat st {};
  file_bytes_ = ::stat(options_.path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  queue_.start([this](std::vector<AuditRecord>& batch) { return write_batch(batch); });
  return {};
}

void AuditLog::stop() {
  queue_.stop();  // writes what is queued first
  if (file_) std::fclose(file_);
  file_ = nullptr;
}

bool AuditLog::submit(AuditRecord record) {
  return queue_.submit(std::move(record));
}

void AuditLog::flush() {
  queue_.flush();
}

uint64_t AuditLog::written() const {
  return queue_.handled();
}
uint64_t AuditLog::dropped() const {
  return queue_.dropped();
}
uint64_t AuditLog::rotations() const {
  return rotations_;
}

size_t AuditLog::write_batch(std::vector<AuditRecord>& batch) {
  for (const auto& record : batch) write_line(audit_json(record) + "\n");
  std::fflush(file_);
  return batch.size();
}

void AuditLog::write_line(const std::string& line) {
  if (file_bytes_ > 0 && file_bytes_ + line.size() > options_.max_file_bytes) rotate();
  if (!file_) return;
  file_bytes_ += std::fwrite(line.data(), 1, line.size(), file_);
}

void AuditLog::rotate() {
  std::fclose(file_);
  // path.N is dropped, path.(k) -> path.(k+1), path -> path.1.
  const std::string& p = options_.path;
  std::remove((p + "." + std::to_string(options_.keep_files)).c_str());
  for (int k = options_.keep_files - 1; k >= 1; --k)
    std::rename((p + "." + std::to_string(k)).c_str(), (p + "." + std::to_string(k + 1)).c_str());
  if (options_.keep_files > 0)
    std::rename(p.c_str(), (p + ".1").c_str());
  else
    std::remove(p.c_str());
  file_ = std::fopen(p.c_str(), "w");
  file_bytes_ = 0;
  ++rotations_;
}

}  // namespace gatedrill::gateway
