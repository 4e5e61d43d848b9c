-- jwks-unreachable (DRILLS.md; seed 000): the IdP's JWKS endpoint fails while the gateway's key
-- cache is cold. A warm gateway keeps its last good key set (stale-if-error), so the drill
-- makes the cache cold the way it happens in production: the gateway node restarts (crash,
-- deploy, scale-out) while the JWKS is unreachable. With no keys it cannot verify any token:
-- every authenticated request is refused, 401 by default (Envoy's behaviour) or 500 with
-- -e JWKS_STATUS=500 (seed 000's). JWKS back: the gateway retries every second while it holds
-- no keys, so requests succeed again within about a second.
--
--   gatedrill drills run jwks-unreachable [--short] [-e JWKS_STATUS=500]

scenario {
  name = "jwks-unreachable",
  description = "JWKS down and the gateway restarts with a cold key cache: 401 (or 500) for every request, 2xx once JWKS is back.",
  seeds = { "000" },
}

local status = param("JWKS_STATUS", 401)

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  gateway = { args = { "--jwks-unavailable-status", tostring(status) } },
}

local rate = param("RATE", pick(1000, 400))
-- The restart phase covers the node's own restart (connection errors); cold is the outage seen
-- by a node that is up but has no keys.
local warmup, restart, cold, recover = pick(10, 3), pick(3, 1.5), pick(27, 3.5), pick(20, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "restart", rate = rate, duration = restart },
  { name = "cold", rate = rate, duration = cold },
  { name = "recover", rate = rate, duration = recover },
}

at(warmup, function()
  fault.jwks_down { node = "idp", duration = restart + cold }
  -- SIGKILL: the supervisor starts the node again within moments, with an empty key cache.
  fault.kill { node = "gw-1" }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- The symptom, measured once the node is back up: every request refused with the status.
  ["cold.status_" .. status .. "_share"] = "> 95%",
  ["recover.p99"] = "< 100ms",
}

expect {
  during("jwks_down", { ["status_" .. status .. "_share"] = "> 90%" }),
  -- Retried every second while it holds no keys; measured in whole seconds: 3 s at most.
  after("jwks_down", { recovered_within = "3s" }),
}
