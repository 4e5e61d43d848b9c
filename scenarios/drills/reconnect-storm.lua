-- reconnect-storm (DRILLS.md; seed 003: "2x burst in connection overhead during service
-- recovery"): a gateway node restarts while many clients hold connections to it. When it is
-- back every client reconnects at once: the TLS handshakes saturate its CPU, the tail latency
-- spikes and some requests fail. The time until p99 and errors are back to normal is measured.
--
--   gatedrill drills run reconnect-storm [--short] [-e RESUME=0]

scenario {
  name = "reconnect-storm",
  description = "Gateway restarted under many connections: errors and a p99 spike while all reconnect; recovery time measured.",
  seeds = { "003" },
}

-- -e RESUME=0 turns TLS session resumption off in the load, to compare. (A restarted gateway
-- has new session-ticket keys, so reconnects after a restart are full handshakes either way;
-- resumption only spares the reconnects of connections the node itself closes.)
local resume = param("RESUME", 1) == 1

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  tls_resume = resume,
}

local rate = param("RATE", pick(2000, 500))
local connections = param("CONNECTIONS", pick(1000, 150))
local warmup, storm, settled = pick(15, 4), pick(15, 4), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup, connections = connections },
  { name = "storm", rate = rate, duration = storm, connections = connections },
  { name = "settled", rate = rate, duration = settled, connections = connections },
}

-- Half a second into the storm phase: requests planned just before the restart and failed by it
-- count in the storm, not in the warm-up.
at(warmup + 0.5, function()
  -- SIGTERM; the supervisor starts it again (backoff from 200 ms).
  fault.restart { node = "gw-1" }
end)

thresholds {
  -- (The first connects are a small storm of their own.)
  ["warmup.error_rate"] = "< 5%",
  -- The storm: requests fail while it is down and wait while everyone re-handshakes.
  ["storm.error_rate"] = "> 1%",
  ["storm.p99"] = "> 200ms",
  -- The node really went down and was started again by the supervisor.
  ["storm.restarts{node=gw-1}"] = ">= 1",
  ["settled.error_rate"] = "< 1%",
}

expect {
  after("restart", { node = "gw-1", recovered_within = pick("5s", "3s") }),
}
