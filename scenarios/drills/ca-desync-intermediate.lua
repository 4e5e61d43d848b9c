-- ca-desync-intermediate (DRILLS.md; seeds 000, 003): the CA rolls to a new intermediate and
-- the load's workload gets its next SVID from it, but the trust-bundle update never reaches
-- gw-2 (its distribution agent is "down": withheld). gw-1 learns the new intermediate and keeps
-- admitting the client; gw-2 refuses every handshake (alert unknown_ca), so the failing share
-- of nodes is the share of stale nodes. When the bundle reaches gw-2 it reloads and recovers.
--
--   gatedrill run scenarios/drills/ca-desync-intermediate.lua [-e SHORT=1]

scenario {
  name = "ca-desync-intermediate",
  description = "New intermediate, bundle withheld from gw-2: handshakes fail on gw-2 only (unknown_ca); propagation heals it.",
  seeds = { "000", "003" },
}

topology {
  gateways = 2,
  tls = "mtls",
  -- Every 20 requests a connection re-handshakes, so trust changes show within a second.
  pki = { requests_per_connection = 20 },
}

local rate = param("RATE", pick(1000, 400))
local warmup, desync, recover = pick(15, 3), pick(30, 4), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup, tokens = 10 },
  -- A new load generator (fresh_tokens) from here on: it presents the SVID issued after the
  -- roll. Few tokens, so the switch takes milliseconds and its seconds line up with the fault's.
  { name = "rolled", rate = rate, duration = desync + recover, fresh_tokens = true, tokens = 10 },
}

at(warmup - 0.5, function()
  -- gw-2 keeps the bundle it has now; then the roll publishes the new intermediate.
  fault.ca_desync { nodes = { "gw-2" }, mode = "withhold", duration = desync + 0.5 }
  fault.ca_roll_intermediate {}
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
}

expect {
  -- Requests planned while gw-2 refuses wait for a connection and complete after the heal, so
  -- the window's last second may already hold some of them.
  during("ca_desync", { node = "gw-2", error_rate = "> 75%" }),
  during("ca_desync", { node = "gw-1", error_rate = "< 1%" }),
  -- The ratio the seeds describe: failing nodes / nodes = stale nodes / nodes (1 of 2).
  during("ca_desync", { node_error_share = "> 40%" }),
  during("ca_desync", { node_error_share = "< 60%" }),
  after("ca_desync", { node = "gw-2", recovered_within = "2s" }),
}
