// gatedrill: one binary, one subcommand per component, so the runner can start every peer as
// its own process (a drill must kill, stop, starve or skew one without touching the others).
#include <cstdio>
#include <cstring>
#include <string_view>

#include "ca-sim/ca_command.hpp"
#include "gateway/gateway_command.hpp"
#include "gateway/policy/pdp_server.hpp"
#include "gateway/policy/policy_command.hpp"
#include "gateway/policy/registry_server.hpp"
#include "idp-sim/idp_command.hpp"
#include "loadgen/loadgen_command.hpp"
#include "loadgen/store_merge.hpp"
#include "reports/report_command.hpp"
#include "scenarios/capacity.hpp"
#include "scenarios/drills_command.hpp"
#include "scenarios/faults/fault_proxy_command.hpp"
#include "scenarios/peers/upstream_command.hpp"
#include "scenarios/run_command.hpp"

namespace {

struct Command {
  const char* name;
  int (*main)(int argc, char** argv);
  const char* summary;
};

const Command kCommands[] = {
    {"run", gatedrill::run_command, "run a scenario: topology, load, faults, thresholds"},
    {"up", gatedrill::up_command, "start a scenario's topology with no load until Ctrl-C"},
    {"drills", gatedrill::drills_command, "the drill library: list, run NAME, run --all"},
    {"capacity", gatedrill::capacity_command,
     "find the highest rate within SLOs (adaptive search)"},
    {"report", gatedrill::report_command, "a run's report: text, md, json, html (charts), junit"},
    {"compare", gatedrill::compare_command, "two runs side by side: RPS, percentiles, deltas"},
    {"gate", gatedrill::gate_command, "CI regression gate: baseline vs candidate (exit 99)"},
    {"loadgen", gatedrill::loadgen_command, "open-loop load generator (like wrk2)"},
    {"merge", gatedrill::loadgen::merge_command, "combine loadgen workers' results stores exactly"},
    {"gateway", gatedrill::gateway_command, "the zero-trust API gateway under test"},
    {"policy", gatedrill::policy_command, "Rego policy engine: eval, test, lint (OPA-compatible)"},
    {"pdp", gatedrill::pdp_command, "policy decision point: OPA Data API over HTTP"},
    {"registry", gatedrill::registry_command, "policy registry: bundles, break-glass, discovery"},
    {"idp", gatedrill::idp_command, "simulated OIDC identity provider with JWKS"},
    {"upstream", gatedrill::upstream_command, "simulated upstream service"},
    {"fault-proxy", gatedrill::fault_proxy_command, "TCP proxy with toxics (Toxiproxy-style API)"},
    {"ca", gatedrill::ca_command, "private PKI: SPIFFE SVIDs, CRLs, per-node trust bundles"},
};

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: gatedrill COMMAND [options]   (gatedrill COMMAND --help for each)\n\n"
      "A testbed for zero-trust API gateways: a real gateway beside its peers, open-loop load,\n"
      "scripted faults, results in SQLite.\n\ncommands:\n",
      out);
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string_view name = argv[1];
  for (const auto& c : kCommands) {
    // The subcommand sees argv[0] = its own name, then its arguments.
    if (name == c.name) return c.main(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "error: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return 2;
}
