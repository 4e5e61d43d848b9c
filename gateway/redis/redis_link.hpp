#pragma once
// The gateway's Redis connection for the request path (revocation lookups, global rate-limit
// counters): one connection on its own Asio thread, commands from every worker pipelined into
// one write, replies matched in order. Nothing here blocks a caller: while the link is down a
// submission fails at once ("unavailable"), and a reply that does not come within the timeout
// fails the connection (every waiting batch gets "timeout") and a reconnect starts. A fresh
// connection counts as up only after it answered PING, so a hung (SIGSTOPped) Redis that still
// accepts TCP does not look healthy. Asio stays in the .cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/resp/resp.hpp"
#include "core/util/result.hpp"

namespace gatedrill::gateway {

struct RedisLinkOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::chrono::milliseconds timeout{250};  // connect + PING, and the wait for a reply
  std::chrono::milliseconds reconnect_interval{200};
  size_t max_in_flight = 20000;  // batches awaiting replies; more fail with "overloaded"
};

// "redis://host:port" (port defaults to 6379). Errors: "usage".
Result<RedisLinkOptions> parse_redis_url(std::string_view url);

struct RedisLinkHooks {
  // One failure of the link: "connect", "timeout", "io", "protocol".
  std::function<void(std::string_view kind)> on_error;
  std::function<void(bool up)> on_state;  // the link went up (PING answered) or down
};

class RedisLink {
 public:
  // A Redis error reply ("-ERR") is a successful round trip: a value with is_error().
  using Replies = Result<std::vector<resp::Value>>;
  using Callback = std::function<void(Replies)>;

  explicit RedisLink(RedisLinkOptions options, RedisLinkHooks hooks = {});
  ~RedisLink();  // stops
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();  // connects in the background, and keeps reconnecting
  // Every waiting batch gets "stopped"; later submissions too. Idempotent.
  void stop();

  // Thread-safe, never blocks. `done` runs exactly once: on the link's thread with the replies
  // (one per command, in order) or an error ("timeout", "io", "protocol", "stopped",
  // "overloaded"), or inline when the link is down ("unavailable").
  void submit(std::vector<std::vector<std::string>> commands, Callback done);

  bool up() const;
  // Tests and start-up: waits (bounded) until the link is up.
  bool wait_up(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatedrill::gateway
