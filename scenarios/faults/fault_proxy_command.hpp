#pragma once

namespace gatedrill {

// `gatedrill fault-proxy [--admin-port N] [--proxy NAME=LISTEN=UPSTREAM]...`: a TCP proxy with
// toxics, configured over a Toxiproxy-shaped HTTP API on the admin port. Exit codes: 0 after
// SIGINT/SIGTERM, 1 when a proxy or the admin server cannot start, 2 on bad usage.
int fault_proxy_command(int argc, char** argv);

}  // namespace gatedrill
