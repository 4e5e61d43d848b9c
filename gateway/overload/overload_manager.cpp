#include "gateway/overload/overload_manager.hpp"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace gatedrill::gateway {

int64_t resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<int64_t>(resident) * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

OverloadManager::OverloadManager(OverloadOptions options) : options_(std::move(options)) {
  if (!options_.memory_probe) options_.memory_probe = resident_memory_bytes;
}

OverloadManager::~OverloadManager() {
  stop();
}

void OverloadManager::sample_now() {
  if (!enabled()) return;
  const int64_t bytes = options_.memory_probe();
  bytes_.store(bytes, std::memory_order_relaxed);
  const double used =
      static_cast<double>(bytes) / static_cast<double>(options_.memory_budget_bytes);
  OverloadLevel level = OverloadLevel::kNormal;
  if (used >= options_.shed_at)
    level = OverloadLevel::kShed;
  else if (used >= options_.keepalive_off_at)
    level = OverloadLevel::kNoKeepAlive;
  const int before = level_.exchange(static_cast<int>(level), std::memory_order_relaxed);
  if (before != static_cast<int>(level))
    std::fprintf(stderr, "gateway: memory %lld of %lld bytes: overload level %d\n",
                 static_cast<long long>(bytes),
                 static_cast<long long>(options_.memory_budget_bytes), static_cast<int>(level));
}

void OverloadManager::start() {
  if (!enabled()) return;
  sample_now();
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, options_.interval);
      if (stopping_) break;
      lock.unlock();
      sample_now();
      lock.lock();
    }
  });
}

void OverloadManager::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gatedrill::gateway
