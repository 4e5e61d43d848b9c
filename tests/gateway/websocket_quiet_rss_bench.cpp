// The gateway's memory with many quiet WebSockets over HTTP/2 after a burst: a `gatedrill
// gateway` process (one worker) in front of an echo upstream taking any number of connections;
// this program opens TUNNELS tunnels (RFC 8441 over h2c, STREAMS per connection), echoes one
// BURST-byte message on each (a connection's streams at once), then leaves them all quiet. The
// gateway's RSS (VmRSS) with the tunnels open before the burst, right after it, and once the
// tunnels were quiet for QUIET_MS (what the trims after the burst gave back); the gateway's CPU
// over the bursts.
//
// usage: gateway_websocket_quiet_rss_bench [GATEDRILL]
//        (env: TUNNELS=1000 STREAMS=100 BURST=1048576 QUIET_MS=3000; a release gatedrill)
#include <fcntl.h>
#include <poll.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "child_process.hpp"
#include "h2_test_client.hpp"
#include "websocket_support.hpp"

namespace gatedrill::gateway::test {
namespace {

// A WebSocket upstream for many connections at once (one poll() loop): 101 to a handshake,
// then every byte echoed as it came (frames and all). A connection whose echo the gateway does
// not take (more than 256 KB waiting) is not read until it does.
class ManyEchoUpstream {
 public:
  ManyEchoUpstream() : fd_(listen_loopback(port_)) {
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    thread_ = std::thread([this] { run(); });
  }
  ~ManyEchoUpstream() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_) ::close(c.fd);
    ::close(fd_);
  }
  ManyEchoUpstream(const ManyEchoUpstream&) = delete;
  ManyEchoUpstream& operator=(const ManyEchoUpstream&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  struct Conn {
    int fd;
    bool upgraded = false;
    std::string in;   // the handshake, until its end
    std::string out;  // what waits to go back
  };
  static constexpr size_t kHold = 256 * 1024;

  void run() {
    std::vector<pollfd> polled;
    std::vector<char> buffer(64 * 1024);
    while (!stop_) {
      polled.assign(1, pollfd{fd_, POLLIN, 0});
      for (const auto& c : conns_)
        polled.push_back(pollfd{
            c.fd,
            static_cast<short>((c.out.size() < kHold ? POLLIN : 0) | (c.out.empty() ? 0 : POLLOUT)),
            0});
      if (::poll(polled.data(), polled.size(), 50) <= 0) continue;
      for (size_t i = 1; i < polled.size(); ++i) {
        Conn& c = conns_[i - 1];
        if (polled[i].revents & POLLOUT) {
          const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
          if (n > 0) c.out.erase(0, static_cast<size_t>(n));
        }
        if (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
          if (n <= 0) {
            ::close(c.fd);
            c.fd = -1;
            continue;
          }
          take(c, std::string_view(buffer.data(), static_cast<size_t>(n)));
        }
      }
      std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
      for (int fd; (fd = ::accept(fd_, nullptr, nullptr)) >= 0;) {
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
        conns_.push_back(Conn{fd, false, {}, {}});
      }
    }
  }
  static void take(Conn& c, std::string_view data) {
    if (c.upgraded) {
      c.out.append(data);
      return;
    }
    c.in.append(data);
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string lower = c.in.substr(0, end);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const size_t pos = lower.find("sec-websocket-key:");
    if (pos == std::string::npos) return;
    const size_t start = c.in.find_first_not_of(' ', pos + 18);
    const std::string key = c.in.substr(start, c.in.find("\r\n", start) - start);
    c.out +=
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        websocket_accept(key) + "\r\n\r\n";
    c.out += c.in.substr(end + 4);
    c.in = std::string();
    c.upgraded = true;
  }

  uint16_t port_ = 0;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::vector<Conn> conns_;  // the loop's thread only
  std::thread thread_;
};

int run(const std::string& binary) {
  const int tunnels = env_int("TUNNELS", 1000);
  const int per_connection = env_int("STREAMS", 100);
  const size_t burst = static_cast<size_t>(env_int("BURST", 1 << 20));
  SystemTimeSource clock;
  FakeIdp idp;
  ManyEchoUpstream upstream;
  GatewayChild gateway(
      idp, upstream.url(),
      {"--plaintext", "--threads", "1", "--upstream-timeout", "10s", "--idle-timeout", "600s"},
      binary);
  if (gateway.port() == 0) {
    std::fprintf(stderr, "the gateway did not start: %s\n", gateway.ready().c_str());
    return 1;
  }
  print_load();
  std::printf("%d tunnels (%d per h2c connection), %zu bytes each\n", tunnels, per_connection,
              burst);
  const long rss_start = rss_kb(gateway.pid());
  const std::string token = idp.token(clock.wall_seconds());
  struct Connection {
    std::unique_ptr<H2TestClient> client;
    std::vector<int32_t> ids;
  };
  std::vector<Connection> connections;
  for (int opened = 0; opened < tunnels;) {
    Connection c{std::make_unique<H2TestClient>(gateway.port(), false), {}};
    c.client->keep_bodies(false);
    if (!c.client->run_until([&] { return c.client->settings_received(); }))
      return std::fprintf(stderr, "no SETTINGS from the gateway\n"), 1;
    for (int i = 0; i < per_connection && opened < tunnels; ++i, ++opened)
      c.ids.push_back(c.client->open_connect(
          "websocket", "/chat",
          {{"authorization", "Bearer " + token}, {"sec-websocket-version", "13"}}));
    auto& replies = c.client->replies();
    const bool answered = c.client->run_until(
        [&] {
          for (int32_t id : c.ids)
            if (replies[id].status == 0) return false;
          return true;
        },
        std::chrono::seconds(30));
    for (int32_t id : c.ids)
      if (!answered || replies[id].status != 200)
        return std::fprintf(stderr, "tunnel refused: %d\n", replies[id].status), 1;
    connections.push_back(std::move(c));
  }
  const long rss_open = rss_kb(gateway.pid());
  const std::string message = frame(0x2, std::string(burst, 'b'), true);
  const int64_t burst_began = clock.monotonic_ms();
  const uint64_t cpu_began = cpu_ns(gateway.pid());
  for (auto& c : connections) {
    for (int32_t id : c.ids) c.client->send_data(id, message);
    auto& replies = c.client->replies();
    const bool echoed = c.client->run_until(
        [&] {
          for (int32_t id : c.ids)
            if (replies[id].body_bytes < message.size()) return false;
          return true;
        },
        std::chrono::seconds(120));
    if (!echoed) return std::fprintf(stderr, "a burst did not come back\n"), 1;
  }
  const long rss_burst = rss_kb(gateway.pid());
  const int64_t burst_ms = clock.monotonic_ms() - burst_began;
  const double burst_cpu_s = static_cast<double>(cpu_ns(gateway.pid()) - cpu_began) / 1e9;
  // Quiet for QUIET_MS (tunnels trim their pipes after 1 s without a frame); the clients only
  // poll meanwhile.
  const int quiet_ms = env_int("QUIET_MS", 3000);
  const int64_t until = clock.monotonic_ms() + quiet_ms;
  while (clock.monotonic_ms() < until)
    for (auto& c : connections)
      c.client->run_until([] { return false; }, std::chrono::milliseconds(0));
  const long rss_quiet = rss_kb(gateway.pid());
  std::printf("the bursts echoed in %.1f s, gateway CPU %.2f s\n",
              static_cast<double>(burst_ms) / 1000, burst_cpu_s);
  std::printf("gateway RSS: started %.1f MB; %d tunnels open %.1f MB (%.1f KB each)\n",
              rss_start / 1024.0, tunnels, rss_open / 1024.0,
              static_cast<double>(rss_open - rss_start) / tunnels);
  std::printf(
      "after the burst %.1f MB (%.1f KB per tunnel over open), quiet %d ms %.1f MB (%.1f KB)\n",
      rss_burst / 1024.0, static_cast<double>(rss_burst - rss_open) / tunnels, quiet_ms,
      rss_quiet / 1024.0, static_cast<double>(rss_quiet - rss_open) / tunnels);
  return 0;
}

}  // namespace
}  // namespace gatedrill::gateway::test

int main(int argc, char** argv) {
  return gatedrill::gateway::test::run(argc > 1 ? argv[1] : GATEDRILL_BINARY);
}
