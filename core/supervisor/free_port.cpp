#include "core/supervisor/free_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace gatedrill {

namespace {

struct PortRange {
  uint32_t first = 0;  // [first, end)
  uint32_t end = 0;
};

// The ports below the kernel's ephemeral range, or nullopt when there is hardly any room.
std::optional<PortRange> below_ephemeral_range() {
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  uint32_t ephemeral_first = 0;
  if (!(file >> ephemeral_first)) return std::nullopt;
  if (ephemeral_first < kLowestAllocatedPort + 1000) return std::nullopt;
  return PortRange{kLowestAllocatedPort, ephemeral_first};
}

// Binds a socket to 127.0.0.1:port (0: any) and returns the port it got, or the errno.
Result<uint16_t> probe_bind(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error("no_free_port", std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int error = errno;
    ::close(fd);
    return make_error("no_free_port", "cannot bind 127.0.0.1:" + std::to_string(port) + ": " +
                                          std::strerror(error));
  }
  ::close(fd);
  return static_cast<uint16_t>(ntohs(addr.sin_port));
}

// One byte lock per port on a lock file shared by every gatedrill process of this user. Open
// file description locks belong to this process's descriptor, so they end when it exits, and a
// spawned child does not keep them (the descriptor is close-on-exec).
class PortLocks {
 public:
  PortLocks() {
    auto path = std::filesystem::temp_directory_path(error_) /
                ("gatedrill-ports-" + std::to_string(::getuid()) + ".lock");
    if (!error_) fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  }
  ~PortLocks() {
    if (fd_ >= 0) ::close(fd_);
  }
  PortLocks(const PortLocks&) = delete;
  PortLocks& operator=(const PortLocks&) = delete;

  // False when another process holds the port. Without a lock file every port is ours.
  bool try_lock(uint16_t port) { return fd_ < 0 || set(port, F_WRLCK); }
  void unlock(uint16_t port) {
    if (fd_ >= 0) set(port, F_UNLCK);
  }

 private:
  bool set(uint16_t port, short type) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = port;
    lock.l_len = 1;
    return ::fcntl(fd_, F_OFD_SETLK, &lock) == 0;
  }

  std::error_code error_;
  int fd_ = -1;
};

class PortAllocator {
 public:
  Result<uint16_t> allocate() {
    std::lock_guard lock(mutex_);
    if (!range_) return probe_bind(0);
    uint32_t size = range_->end - range_->first;
    uint32_t start = std::uniform_int_distribution<uint32_t>(0, size - 1)(random_);
    for (uint32_t i = 0; i < size; ++i) {
      auto port = static_cast<uint16_t>(range_->first + (start + i) % size);
      if (std::find(reserved_.begin(), reserved_.end(), port) != reserved_.end()) continue;
      if (!locks_.try_lock(port)) continue;
      if (!probe_bind(port).ok()) {
        locks_.unlock(port);
        continue;
      }
      reserve(port);
      return port;
    }
    return make_error("no_free_port", "no free port in 127.0.0.1:" + std::to_string(range_->first) +
                                          "-" + std::to_string(range_->end - 1));
  }

 private:
  void reserve(uint16_t port) {
    reserved_.push_back(port);
    if (reserved_.size() <= kMaxReservedPorts) return;
    locks_.unlock(reserved_.front());
    reserved_.pop_front();
  }

  std::mutex mutex_;
  std::optional<PortRange> range_ = below_ephemeral_range();
  std::mt19937 random_{std::random_device{}()};
  PortLocks locks_;
  std::deque<uint16_t> reserved_;  // oldest first
};

}  // namespace

Result<uint16_t> allocate_port() {
  static PortAllocator allocator;
  return allocator.allocate();
}

}  // namespace gatedrill
