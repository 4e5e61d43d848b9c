#pragma once
// A bounded queue drained by one background thread, for side outputs of the request path (the
// decision log, the SIEM mirror): producers never wait (a full queue drops the item and counts
// it), the consumer takes batches off the lock. flush() waits until everything submitted so far
// was handled.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace gatedrill::gateway {

template <class T>
class DropQueue {
 public:
  // Handles one batch off the lock; returns how many items it delivered (the rest count as
  // dropped).
  using Handler = std::function<size_t(std::vector<T>& batch)>;

  struct Options {
    size_t capacity = 65536;
    size_t max_batch = 0;       // 0: everything queued at once
    bool drain_on_stop = true;  // false: one last batch at most, the rest is dropped
  };

  explicit DropQueue(Options options) : options_(options) {}
  ~DropQueue() { stop(); }
  DropQueue(const DropQueue&) = delete;
  DropQueue& operator=(const DropQueue&) = delete;

  void start(Handler handle) {
    std::lock_guard lock(mutex_);
    if (running_) return;
    handle_ = std::move(handle);
    running_ = true;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    running_ = false;
    drained_.notify_all();
  }

  // False when dropped (full, or not running).
  bool submit(T item) {
    {
      std::lock_guard lock(mutex_);
      if (!running_ || stopping_ || queue_.size() >= options_.capacity) {
        ++dropped_;
        return false;
      }
      queue_.push_back(std::move(item));
    }
    wake_.notify_one();
    return true;
  }

  void flush() {
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [this] { return (queue_.empty() && !busy_) || !running_ || stopping_; });
  }

  uint64_t handled() const {
    std::lock_guard lock(mutex_);
    return handled_;
  }
  uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping
      const size_t n =
          options_.max_batch == 0 ? queue_.size() : std::min(queue_.size(), options_.max_batch);
      std::vector<T> batch;
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (stopping_ && !options_.drain_on_stop) {
        dropped_ += queue_.size();  // stopping stays bounded with a slow consumer
        queue_.clear();
      }
      busy_ = true;
      lock.unlock();
      const size_t delivered = std::min(handle_(batch), batch.size());
      lock.lock();
      handled_ += delivered;
      dropped_ += batch.size() - delivered;
      busy_ = false;
      drained_.notify_all();
    }
    drained_.notify_all();
  }

  const Options options_;
  Handler handle_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, drained_;
  std::deque<T> queue_;
  bool running_ = false, stopping_ = false, busy_ = false;
  uint64_t handled_ = 0, dropped_ = 0;
  std::thread thread_;
};

}  // namespace gatedrill::gateway
