#include "scenarios/faults/fault_proxy_command.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "core/admin/admin_server.hpp"
#include "core/time/time_source.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "scenarios/faults/fault_proxy.hpp"
#include "scenarios/faults/fault_proxy_api.hpp"

namespace gatedrill {

namespace {

// "name=127.0.0.1:0=127.0.0.1:6379"; either address may end in @NETNS.
Result<ProxyConfig> parse_proxy_flag(const std::string& text) {
  const auto first = text.find('=');
  const auto second = first == std::string::npos ? first : text.find('=', first + 1);
  if (second == std::string::npos) {
    return make_error("usage", "--proxy wants NAME=LISTEN=UPSTREAM, got '" + text + "'");
  }
  ProxyConfig config;
  config.name = text.substr(0, first);
  config.listen = text.substr(first + 1, second - first - 1);
  config.upstream = text.substr(second + 1);
  for (auto [address, ns] : {std::pair{&config.listen, &config.listen_netns},
                             std::pair{&config.upstream, &config.upstream_netns}}) {
    if (auto at = address->find('@'); at != std::string::npos) {
      *ns = address->substr(at + 1);
      address->erase(at);
      if (ns->empty() || ns->find('/') != std::string::npos)
        return make_error("usage",
                          "--proxy: '@' must be followed by a namespace name in '" + text + "'");
    }
  }
  return config;
}

}  // namespace

int fault_proxy_command(int argc, char** argv) {
  int64_t admin_port = 0;
  std::vector<std::string> proxy_flags;
  ArgParser args("fault-proxy",
                 "A TCP proxy with toxics (latency, bandwidth, slow_close, timeout, reset_peer,\n"
                 "slicer, limit_data, mtu_blackhole), configured over a Toxiproxy-shaped HTTP API\n"
                 "on the admin port (POST /proxies, POST /proxies/NAME/toxics, ...).");
  args.option("admin-port", &admin_port, "admin API port on 127.0.0.1 (0: any free port)");
  args.repeated(
      "proxy", &proxy_flags,
      "a proxy to start with, NAME=LISTEN=UPSTREAM, e.g. redis=127.0.0.1:0=127.0.0.1:6379;\n"
      "LISTEN@NETNS or UPSTREAM@NETNS: that side lives in a network namespace (root)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (admin_port < 0 || admin_port > 65535) {
    std::fprintf(stderr, "error: --admin-port must be 0..65535\n");
    return 2;
  }
  std::vector<ProxyConfig> configs;
  for (const auto& flag : proxy_flags) {
    auto config = parse_proxy_flag(flag);
    if (!config) {
      std::fprintf(stderr, "error: %s\n", config.error().message.c_str());
      return 2;
    }
    configs.push_back(*config);
  }

  TerminationSignals signals;
  FaultProxy proxy;
  int first_port = 0;
  for (const auto& config : configs) {
    auto info = proxy.add_proxy(config);
    if (!info) {
      std::fprintf(stderr, "error: %s\n", info.error().message.c_str());
      return 1;
    }
    if (first_port == 0) first_port = info->port;
  }
  // Declared in this order so each outlives what refers to it: faults' destructor clears
  // toxics through the api, which uses the proxy.
  FaultProxyApi api(proxy);
  SystemTimeSource time;
  MetricsRegistry metrics;
  FaultRegistry faults(time);
  api.register_faults(faults);
  api.add_metrics(metrics);
  HttpServerOptions options;
  options.port = static_cast<uint16_t>(admin_port);
  AdminServer server(time, metrics, faults, options);
  api.install(server);
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().message.c_str());
    return 1;
  }
  print_ready_line("fault-proxy", first_port, server.port());
  signals.wait();
  server.stop();
  return 0;
}

}  // namespace gatedrill
