-- jwks-unreachable (DRILLS.md; seed 000): the IdP's JWKS endpoint fails while the gateway's key
-- cache is cold. A warm gateway keeps its last good key set (stale-if-error), so the drill
-- makes the cache cold the way it happens in production: the gateway node restarts (crash,
-- deploy, scale-out) while the JWKS is unreachable. With no keys it cannot verify any token:
-- every authenticated request is refused, 401 by default (Envoy's behaviour) or 500 with
-- -e JWKS_STATUS=500 (seed 000's), at once: for most of the cold phase the JWKS does not even
-- answer (its requests are swallowed), and a gateway that fetched the keys on the request path
-- would hold every request for its fetch timeout (p99 6 s when tried). JWKS back: the gateway
-- retries every second while it holds no keys, so requests succeed again within about a second.
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
  -- The gateway reaches the JWKS through the fault proxy, so the cold phase can black-hole it.
  proxies = { "idp" },
}

local rate = param("RATE", pick(1000, 400))
-- The restart phase covers the node's own restart (connection errors); cold is the outage seen
-- by a node that is up but has no keys.
local warmup, restart, cold, recover = pick(10, 3), pick(3, 1.5), pick(27, 6.5), pick(20, 4)
-- For the first part of the cold phase the JWKS is not only failing but unreachable: the proxy
-- swallows the requests, so each retry hangs until the gateway's JWKS fetch timeout (3 s). It
-- ends that timeout before the JWKS is back, so the last hung retry is over by then and the
-- recovery is the retry interval's, as without it.
local fetch_timeout = 3
local unreachable = cold - fetch_timeout

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
-- After the restart: the node's start-up fetch got its fast 503 and it is listening.
at(warmup + restart, function()
  fault.toxic { node = "idp", type = "timeout", stream = "upstream", duration = unreachable }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- The symptom, measured once the node is back up: every request refused with the status.
  ["cold.status_" .. status .. "_share"] = "> 95%",
  -- Refused at once, not held (seed 000: an error for every request): a gateway that fetched
  -- the keys on the request path while it holds none would hold requests for its JWKS fetch
  -- timeout, 3 s, and those behind them longer; half of it is the bound. Refusing or serving
  -- takes milliseconds, tens to a few hundred on a busy 2-core machine (268 ms read at load
  -- average 7.3), so the bound does not judge the machine. Held requests complete, and are
  -- counted, in the cold phase or after it: both phases are judged.
  ["cold.p99"] = "< 1.5s",
  ["recover.p99"] = "< 1.5s",
}

expect {
  during("jwks_down", { ["status_" .. status .. "_share"] = "> 90%" }),
  -- Retried every second while it holds no keys; measured in whole seconds: 3 s at most.
  after("jwks_down", { recovered_within = "3s" }),
}
