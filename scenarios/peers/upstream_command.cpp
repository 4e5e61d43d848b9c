#include "scenarios/peers/upstream_command.hpp"

#include <cstdio>

#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "scenarios/peers/upstream_sim.hpp"

namespace gatedrill {

int upstream_command(int argc, char** argv) {
  UpstreamOptions options;
  std::string latency = "0", body_size = "512";
  int64_t port = 0, admin_port = 0, threads = 1, status = 200;
  ArgParser args("upstream",
                 "A simulated upstream service: every request gets the same status, body size and\n"
                 "latency; faults (latency, error, stall, down) through /admin/faults on the admin port.");
  args.option("name", &options.name, "service name (default app)");
  args.option("port", &port, "listen port on 127.0.0.1 (0: any free port)");
  args.option("admin-port", &admin_port, "admin port (0: any free port)");
  args.option("status", &status, "HTTP status of every answer (default 200)");
  args.option("body-size", &body_size, "response body size, e.g. 512, 4k (default 512)");
  args.option("latency", &latency, "added latency, e.g. 200us, 5ms (default 0)");
  args.option("threads", &threads, "server threads (default 1)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;

  auto latency_ns = parse_duration(latency);
  auto body_bytes = parse_size(body_size);
  std::string problem;
  if (!latency_ns) problem = latency_ns.error().message;
  else if (latency_ns->count() < 0) problem = "--latency must be >= 0";
  else if (!body_bytes) problem = body_bytes.error().message;
  else if (status < 100 || status > 599) problem = "--status must be 100..599";
  else if (port < 0 || port > 65535 || admin_port < 0 || admin_port > 65535) problem = "ports must be 0..65535";
  else if (threads < 1 || threads > 256) problem = "--threads must be 1..256";
  if (!problem.empty()) {
    std::fprintf(stderr, "error: %s\n", problem.c_str());
    return 2;
  }
  options.port = static_cast<uint16_t>(port);
  options.admin_port = static_cast<uint16_t>(admin_port);
  options.threads = static_cast<int>(threads);
  options.status = static_cast<int>(status);
  options.body_bytes = *body_bytes;
  options.latency = std::chrono::duration_cast<std::chrono::microseconds>(*latency_ns);

  TerminationSignals signals;
  SystemTimeSource time;
  UpstreamSim upstream(time, options);
  if (auto started = upstream.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().message.c_str());
    return 1;
  }
  print_ready_line("upstream", upstream.port(), upstream.admin_port());
  signals.wait();
  upstream.stop();
  return 0;
}

}  // namespace gatedrill
