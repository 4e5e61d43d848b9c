// The gateway's CPU per WebSocket message through an HTTP/1.1 tunnel and through an HTTP/2 one
// (RFC 8441 over h2c), side by side: a `gatedrill gateway` process (one worker, pinned to core
// 0) in front of the tests' echo upstream; this program (client and upstream, pinned to core 1)
// sends MESSAGES binary messages of SIZE bytes one at a time and reads each echo. The gateway's
// CPU time (all its threads, /proc/PID/task/*/schedstat) over the messages, per message; REPS
// rounds alternating h1 and h2, each on a fresh gateway.
//
// usage: gateway_websocket_tunnel_bench [GATEDRILL]   (env: MESSAGES=20000 SIZE=100 REPS=3)
// (a release gatedrill for numbers; default: this build's)
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench_support.hpp"
#include "child_process.hpp"
#include "h2_test_client.hpp"
#include "websocket_support.hpp"

namespace gatedrill::gateway::test {
namespace {

// One echo over an HTTP/1.1 tunnel or an h2 stream: false when it did not come back whole.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  virtual bool echo(const std::string& message, size_t size) = 0;
};

class H1Tunnel final : public Tunnel {
 public:
  H1Tunnel(uint16_t port, const std::string& token) : fd_(connect_loopback(port)) {
    send_all(fd_,
             "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
             "13\r\nAuthorization: Bearer " +
                 token + "\r\n\r\n");
    ok_ = read_head(fd_, pending_).rfind("HTTP/1.1 101", 0) == 0;
  }
  ~H1Tunnel() override { ::close(fd_); }
  bool ok() const { return ok_; }
  bool echo(const std::string& message, size_t size) override {
    return send_all(fd_, message) && read_frame(fd_, pending_).second.size() == size;
  }

 private:
  int fd_;
  std::string pending_;
  bool ok_ = false;
};

class H2Tunnel final : public Tunnel {
 public:
  H2Tunnel(uint16_t port, const std::string& token) : client_(port, false) {
    client_.keep_bodies(true);
    if (!client_.run_until([&] { return client_.settings_received(); })) return;
    id_ = client_.open_connect(
        "websocket", "/chat",
        {{"authorization", "Bearer " + token}, {"sec-websocket-version", "13"}});
    auto& reply = client_.replies()[id_];
    ok_ = client_.run_until([&] { return reply.status != 0; }) && reply.status == 200;
  }
  bool ok() const { return ok_; }
  bool echo(const std::string& message, size_t size) override {
    auto& reply = client_.replies()[id_];
    client_.send_data(id_, message);
    std::pair<int, std::string> got{-1, ""};
    client_.run_until([&] {
      got = take_frame(reply.body);
      return got.first >= 0 || reply.closed;
    });
    return got.second.size() == size;
  }

 private:
  H2TestClient client_;
  int32_t id_ = 0;
  bool ok_ = false;
};

int run(const std::string& binary) {
  const int messages = env_int("MESSAGES", 20000);
  const size_t size = static_cast<size_t>(env_int("SIZE", 100));
  const int reps = env_int("REPS", 3);
  pin(0, 1);  // this thread, and the upstream's and IdP's threads started after it
  SystemTimeSource clock;
  FakeIdp idp;
  WebSocketEchoUpstream upstream;
  const std::string message = frame(0x2, std::string(size, 'm'), true);
  print_load();
  std::printf("%d messages of %zu bytes, echoed one at a time\n", messages, size);
  for (int rep = 0; rep < reps; ++rep) {
    for (const std::string protocol : {"http/1.1", "h2"}) {
      GatewayChild gateway(idp, upstream.url(),
                           {"--plaintext", "--threads", "1", "--upstream-timeout", "10s"}, binary);
      if (gateway.port() == 0) {
        std::fprintf(stderr, "the gateway did not start: %s\n", gateway.ready().c_str());
        return 1;
      }
      pin(gateway.pid(), 0);
      const std::string token = idp.token(clock.wall_seconds());
      std::unique_ptr<Tunnel> tunnel;
      if (protocol == "h2") {
        auto h2 = std::make_unique<H2Tunnel>(gateway.port(), token);
        if (!h2->ok()) return std::fprintf(stderr, "h2 tunnel refused\n"), 1;
        tunnel = std::move(h2);
      } else {
        auto h1 = std::make_unique<H1Tunnel>(gateway.port(), token);
        if (!h1->ok()) return std::fprintf(stderr, "http/1.1 tunnel refused\n"), 1;
        tunnel = std::move(h1);
      }
      for (int i = 0; i < 200; ++i)  // warm-up
        if (!tunnel->echo(message, size)) return std::fprintf(stderr, "echo failed\n"), 1;
      const uint64_t cpu_before = cpu_ns(gateway.pid());
      const int64_t wall_before = clock.monotonic_ns();
      for (int i = 0; i < messages; ++i)
        if (!tunnel->echo(message, size)) return std::fprintf(stderr, "echo failed\n"), 1;
      const double cpu_us = static_cast<double>(cpu_ns(gateway.pid()) - cpu_before) / 1e3;
      const double wall_s = static_cast<double>(clock.monotonic_ns() - wall_before) / 1e9;
      std::printf("%-8s gateway CPU %7.2f us per message, %6.0f messages/s\n", protocol.c_str(),
                  cpu_us / messages, messages / wall_s);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace gatedrill::gateway::test

int main(int argc, char** argv) {
  return gatedrill::gateway::test::run(argc > 1 ? argv[1] : GATEDRILL_BINARY);
}
