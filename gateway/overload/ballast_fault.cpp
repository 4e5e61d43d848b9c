#include "gateway/overload/ballast_fault.hpp"

#include <sys/mman.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/util/json.hpp"

namespace gatedrill::gateway {

namespace {

constexpr int64_t kChunk = int64_t{1} << 20;
constexpr int64_t kMaxBytes = int64_t{16} << 30;

// Grows to `bytes` in 1 MiB chunks, every page written so it is resident (an untouched malloc
// would only reserve address space). A thread paces the growth so stop() is prompt.
class Ballast {
 public:
  Ballast(int64_t bytes, std::chrono::milliseconds ramp) : bytes_(bytes), ramp_(ramp) {
    thread_ = std::thread([this] { grow(); });
  }
  ~Ballast() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    for (void* p : chunks_) munmap(p, kChunk);
  }
  Ballast(const Ballast&) = delete;
  Ballast& operator=(const Ballast&) = delete;

 private:
  void grow() {
    const int64_t count = (bytes_ + kChunk - 1) / kChunk;
    const auto step = ramp_ / std::max<int64_t>(count, 1);
    std::unique_lock lock(mutex_);
    for (int64_t i = 0; i < count && !stopping_; ++i) {
      void* p = mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        std::fprintf(stderr, "ballast: mmap failed after %lld MiB\n", static_cast<long long>(i));
        return;
      }
      std::memset(p, 0xA5, kChunk);
      chunks_.push_back(p);
      if (step.count() > 0) wake_.wait_for(lock, step, [this] { return stopping_; });
    }
  }

  int64_t bytes_;
  std::chrono::milliseconds ramp_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<void*> chunks_;
  std::thread thread_;
};

}  // namespace

void register_ballast_fault(FaultRegistry& faults) {
  faults.register_type(
      "ballast", [](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto bytes = json_int(params, "bytes");
        if (!bytes || !bytes->has_value())
          return make_error("bad_params", "ballast needs \"bytes\" (an integer)");
        if (**bytes <= 0 || **bytes > kMaxBytes)
          return make_error("bad_params",
                            "ballast: bytes must be from 1 to " + std::to_string(kMaxBytes));
        auto ramp = json_int(params, "ramp_ms");
        if (!ramp) return make_error("bad_params", "ballast: ramp_ms must be an integer");
        int64_t ramp_ms = ramp->value_or(0);
        if (ramp_ms < 0 || ramp_ms > 3'600'000)
          return make_error("bad_params", "ballast: ramp_ms must be from 0 to 3600000");
        std::shared_ptr<Ballast> ballast;
        try {
          ballast = std::make_shared<Ballast>(**bytes, std::chrono::milliseconds(ramp_ms));
        } catch (const std::exception& e) {  // no thread: address-space or thread limit reached
          return make_error("bad_params", std::string("ballast: cannot start: ") + e.what());
        }
        return FaultRegistry::Clear([ballast]() mutable { ballast.reset(); });
      });
}

}  // namespace gatedrill::gateway
