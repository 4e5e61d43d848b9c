// A tiny long-running child for the supervisor tests: an AdminServer on the port given on the
// command line, until SIGTERM.
//   net_admin_helper PORT            healthy
//   net_admin_helper PORT unhealthy  /healthz answers 503 "warming up" forever
//   net_admin_helper PORT fail       prints a configuration error and exits 3
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/admin/admin_server.hpp"
#include "core/util/signals.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: net_admin_helper PORT [unhealthy|fail]\n");
    return 2;
  }
  const std::string mode = argc > 2 ? argv[2] : "healthy";
  if (mode == "fail") {
    std::fprintf(stderr, "config error: missing key 'issuer'\n");
    return 3;
  }
  gatedrill::TerminationSignals signals;
  gatedrill::SystemTimeSource time;
  gatedrill::MetricsRegistry metrics;
  gatedrill::FaultRegistry faults(time);
  gatedrill::HttpServerOptions options;
  options.port = static_cast<uint16_t>(std::atoi(argv[1]));
  gatedrill::AdminServer admin(time, metrics, faults, options);
  if (mode == "unhealthy") admin.set_health_check([] { return std::string("warming up"); });
  if (auto started = admin.start(); !started) {
    std::fprintf(stderr, "%s\n", started.error().message.c_str());
    return 1;
  }
  gatedrill::print_ready_line("net_admin_helper", admin.port(), admin.port());
  signals.wait();
  admin.stop();
  return 0;
}
