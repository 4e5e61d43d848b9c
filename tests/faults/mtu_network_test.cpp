// The real-network MTU black hole, measured with TCP between two namespaces: a 200-byte
// exchange passes, a 64 KiB one stalls while the black hole is on, and completes once the
// MTU is "fixed" (root only; skipped with the reason otherwise).
#include "scenarios/faults/mtu_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

// Moves the calling thread (only) into a named network namespace.
bool enter(const std::string& ns) {
  int fd = ::open(MtuBlackholeNetwork::ns_path(ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

// Reads until `want` bytes or `timeout_ms` without progress; returns what arrived.
size_t receive(int fd, size_t want, int timeout_ms) {
  size_t got = 0;
  char buf[65536];
  while (got < want) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

bool send_all(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

TEST(MtuBlackholeNetwork, SmallExchangesPassLargeOnesStallUntilTheMtuIsFixed) {
  auto net = MtuBlackholeNetwork::create({});
  if (!net) GTEST_SKIP() << "no network namespaces here: " << net.error().message;

  // The echo server: a thread inside the server namespace, one connection, bounded waits.
  std::promise<uint16_t> listening;
  std::atomic<bool> stop{false};
  std::thread server([&] {
    if (!enter((*net)->server_ns())) return listening.set_value(0);
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, MtuBlackholeNetwork::server_address(), &addr.sin_addr);
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 1) != 0) {
      ::close(s);
      return listening.set_value(0);
    }
    socklen_t len = sizeof addr;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    listening.set_value(ntohs(addr.sin_port));
    pollfd p{s, POLLIN, 0};
    if (::poll(&p, 1, 10000) == 1) {
      int c = ::accept(s, nullptr, nullptr);
      char buf[65536];
      while (!stop) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 200) <= 0) continue;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0 || !send_all(c, std::string(buf, static_cast<size_t>(n)))) break;
      }
      ::close(c);
    }
    ::close(s);
  });
  const uint16_t port = listening.get_future().get();
  if (port == 0) server.join();  // it has returned; a joinable thread must not outlive the test
  ASSERT_NE(port, 0) << "could not listen inside the server namespace";

  // The client, likewise in its own thread and namespace.
  struct Outcome {
    bool connected = false;
    size_t small = 0, big_stalled = 0, big_after_fix = 0;
  } outcome;
  std::promise<void> stalled_checked;
  std::promise<void> fixed;
  std::thread client([&] {
    if (!enter((*net)->client_ns())) return stalled_checked.set_value();
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, MtuBlackholeNetwork::server_address(), &addr.sin_addr);
    if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      outcome.connected = true;
      send_all(c, std::string(200, 's'));
      outcome.small = receive(c, 200, 3000);
      send_all(c, std::string(64 * 1024, 'b'));
      outcome.big_stalled = receive(c, 64 * 1024, 1500);
      stalled_checked.set_value();
      fixed.get_future().wait();
      // TCP retransmits with backoff; the first retransmission after the fix gets its ICMP.
      outcome.big_after_fix =
          outcome.big_stalled + receive(c, 64 * 1024 - outcome.big_stalled, 10000);
    } else {
      stalled_checked.set_value();
    }
    ::close(c);
  });
  stalled_checked.get_future().wait();
  const bool fix_ok = (*net)->set_blackhole(false).ok();
  fixed.set_value();
  client.join();
  stop = true;
  server.join();

  ASSERT_TRUE(outcome.connected);
  EXPECT_TRUE(fix_ok);
  EXPECT_EQ(outcome.small, 200u);
  EXPECT_LT(outcome.big_stalled, 64u * 1024) << "the large exchange was not black-holed";
  EXPECT_EQ(outcome.big_after_fix, 64u * 1024) << "the transfer did not recover after the fix";
}

}  // namespace
}  // namespace gatedrill
