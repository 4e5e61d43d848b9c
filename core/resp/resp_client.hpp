#pragma once
// A small blocking RESP client for the control plane (IdP revocation pushes, health pings):
// one connection, one caller at a time, every wait bounded by the timeout given at connect.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/resp/resp.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

class RespClient {
 public:
  // Errors: "resolve_failed", "connect_failed" (with errno text), "timeout".
  // `timeout` bounds connecting and, later, each wait for the socket to make progress.
  static Result<RespClient> connect(const std::string& host, uint16_t port,
                                    std::chrono::milliseconds timeout);

  RespClient(RespClient&& other) noexcept;
  RespClient& operator=(RespClient&& other) noexcept;
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;
  ~RespClient();

  // Sends one command and reads its reply. A Redis error reply ("-ERR ...") is a successful
  // round trip: it comes back as a value with is_error(). Errors: "timeout", "io", "closed"
  // (the server hung up), "resp_protocol"/"resp_limit" (a malformed reply). After an error the
  // connection is closed and every later call fails with "closed".
  Result<resp::Value> command(const std::vector<std::string>& args);
  // Sends all commands in one write and reads one reply per command, in order.
  Result<std::vector<resp::Value>> pipeline(const std::vector<std::vector<std::string>>& commands);

  bool connected() const { return fd_ >= 0; }
  void close();

 private:
  RespClient(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  Result<void> write_all(const std::string& bytes);
  Result<resp::Value> read_value();
  Error fail(Error error);  // closes, returns the error

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  resp::Reader reader_;
};

}  // namespace gatedrill
