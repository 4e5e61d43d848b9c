#include "gateway/gateway_command.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "gateway/gateway.hpp"
#include "gateway/gateway_flags.hpp"

namespace gatedrill {

int gateway_command(int argc, char** argv) {
  gateway::GatewayFlags flags;
  ArgParser args(
      "gateway",
      "The zero-trust API gateway under test: HTTP/1.1 over TLS (or --plaintext), JWT authn\n"
      "against the issuer's JWKS, proxy to one upstream; admin API on --admin-port.");
  flags.register_with(args);
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  auto config = flags.to_config();
  if (!config) {
    std::fprintf(stderr, "error: %s\n", config.error().message.c_str());
    return 2;
  }

  TerminationSignals signals;
  SystemTimeSource time;
  gateway::Gateway gw(time, std::move(*config));
  if (auto started = gw.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().message.c_str());
    return 1;
  }
  print_ready_line("gateway", gw.port(), gw.admin_port());
  signals.wait();
  gw.stop();
  return 0;
}

}  // namespace gatedrill
