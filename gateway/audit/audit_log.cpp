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
                        {"identity", r.identity},
                        {"route", r.route},
                        {"method", r.method},
                        {"path", r.path},
                        {"status", r.status},
                        {"reason", r.reason},
                        {"policy_version", r.policy_version},
                        {"latency_us", r.latency_us}};
  return boost::json::serialize(o);  // escapes whatever a client put in the path
}

AuditLog::AuditLog(AuditLogOptions options) : options_(std::move(options)) {}

AuditLog::~AuditLog() {
  stop();
}

Result<void> AuditLog::start() {
  file_ = std::fopen(options_.path.c_str(), "a");
  if (!file_) return make_error("audit_open", "cannot open audit log " + options_.path);
  struct stat st {};
  file_bytes_ = ::stat(options_.path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  {
    std::lock_guard lock(mutex_);
    running_ = true;
  }
  thread_ = std::thread([this] { run(); });
  return {};
}

void AuditLog::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  running_ = false;
  if (file_) std::fclose(file_);
  file_ = nullptr;
}

bool AuditLog::submit(AuditRecord record) {
  {
    std::lock_guard lock(mutex_);
    if (!running_ || stopping_ || queue_.size() >= options_.queue_capacity) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(record));
  }
  wake_.notify_one();
  return true;
}

void AuditLog::flush() {
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [this] { return (queue_.empty() && !writing_) || !running_ || stopping_; });
}

uint64_t AuditLog::written() const {
  std::lock_guard lock(mutex_);
  return written_;
}
uint64_t AuditLog::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}
uint64_t AuditLog::rotations() const {
  std::lock_guard lock(mutex_);
  return rotations_;
}

void AuditLog::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) break;
    std::deque<AuditRecord> batch;
    batch.swap(queue_);
    writing_ = true;
    lock.unlock();
    for (const auto& record : batch) write_line(audit_json(record) + "\n");
    std::fflush(file_);
    lock.lock();
    written_ += batch.size();
    writing_ = false;
    drained_.notify_all();
  }
  drained_.notify_all();
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
  std::lock_guard lock(mutex_);
  ++rotations_;
}

}  // namespace gatedrill::gateway
