#pragma once
// A real redis-server as a peer of the run: started under the Supervisor on a free loopback
// port with a generated config (no persistence, bound to 127.0.0.1), healthy when it answers
// PING, and the faults a drill needs: hang (SIGSTOP), resume, kill, restart.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/resp/resp_client.hpp"
#include "core/supervisor/supervisor.hpp"
#include "core/time/time_source.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

struct RedisServerOptions {
  std::string name = "redis";               // the Supervisor's name for it
  std::string executable = "redis-server";  // looked up in PATH
  std::string work_dir;                     // config, log and working directory (required)
  uint16_t port = 0;                        // 0: a free port, kept across restarts
  std::chrono::milliseconds start_timeout{5000};
  RestartPolicy restart;  // after a crash or a kill fault
};

class RedisServer {
 public:
  RedisServer(Supervisor& supervisor, TimeSource& time, RedisServerOptions options);
  ~RedisServer();  // stops it
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Writes the config, spawns, waits until PING answers PONG. Errors: "bad_options",
  // "no_free_port", "config", the Supervisor's "spawn_failed"/"exited", "unhealthy".
  Result<void> start();
  // One PING on a fresh connection. Errors: RespClient's, or "unhealthy" for a wrong answer.
  Result<void> ping(std::chrono::milliseconds timeout) const;
  // Polls PING until our process answers it (checked by INFO's process_id, so another redis
  // on the port does not count), the process exits, or timeout passes.
  Result<void> wait_ready(std::chrono::milliseconds timeout) const;
  // The pid of the redis answering on our port (INFO server).
  Result<pid_t> answering_pid(std::chrono::milliseconds timeout) const;

  // Faults. hang: SIGSTOP (connections stay open, nothing answers); resume: SIGCONT.
  Result<void> hang();
  Result<void> resume();
  // SIGKILL; waits for the exit and returns its status (137). The restart policy then applies.
  Result<int> kill();
  // Stops it if running, starts it again on the same port, waits for PING. Data is gone.
  Result<void> restart();
  // SIGCONT (a hung server cannot act on SIGTERM), then the Supervisor's graceful stop.
  Result<int> stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& config_file() const { return config_file_; }
  std::optional<pid_t> pid() const { return supervisor_.pid(options_.name); }

 private:
  Result<void> write_config();
  Result<void> spawn_and_wait();

  Supervisor& supervisor_;
  TimeSource& time_;
  RedisServerOptions options_;
  uint16_t port_ = 0;
  std::string config_file_;
  bool started_ = false;
};

// The redis.conf text for a throwaway test peer: loopback only, no RDB, no AOF.
std::string redis_config(uint16_t port, const std::string& dir);

}  // namespace gatedrill
