-- issuer-jwks-isolation (seed 000): the gateways trust three issuers (the run's IdP and two
-- tenants, each an IdP peer of its own, in one --providers file). Tenant A's JWKS endpoint goes
-- down. While the gateway holds A's keys it keeps verifying A's tokens (stale keys serve); then
-- the gateway restarts (a crash, a deploy) with every key cache cold. It fetches the keys of the
-- issuers that answer, so tenant B and the run's IdP are served again at once, while every token
-- of tenant A is refused 401 jwks_unavailable. A's JWKS back: its tokens verify again within the
-- refetch interval (one second while the gateway holds no keys).
--
--   gatedrill drills run issuer-jwks-isolation [--short]

scenario {
  name = "issuer-jwks-isolation",
  description = "One issuer's JWKS down: its tokens verify from cached keys, then after a gateway restart are refused 401 jwks_unavailable while the other issuers' are served.",
  seeds = { "000" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  jwt = { issuers = { "tenant-a", "tenant-b" } },
}

-- The load's own stream carries the run's IdP's tokens; tenant-a@gw-1 and tenant-b@gw-1 each
-- a quarter of the rate with their IdP's tokens.
local rate = param("RATE", pick(1000, 400))
local warmup, stale, restart, cold, recover = pick(10, 3), pick(10, 3), pick(3, 2), pick(12, 3),
  pick(15, 4)
-- The kill comes half a second into the restart phase: the requests it cuts off (in flight, or
-- planned a moment late) then count there, not in the stale phase judged before it.
local kill_at = warmup + stale + 0.5

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "stale", rate = rate, duration = stale },
  { name = "restart", rate = rate, duration = restart },
  { name = "cold", rate = rate, duration = cold },
  { name = "recover", rate = rate, duration = recover },
}

at(warmup, function()
  fault.jwks_down { node = "tenant-a", duration = stale + restart + cold }
end)
at(kill_at, function()
  -- SIGKILL: the supervisor starts the node again within moments, with empty key caches.
  fault.kill { node = "gw-1" }
end)

thresholds {
  ["warmup.error_rate{node=tenant-a@gw-1}"] = "< 1%",
  -- Tenant A's keys are cached: its JWKS being down changes nothing yet.
  ["stale.error_rate{node=tenant-a@gw-1}"] = "< 1%",
  -- Cold caches: tenant A refused, the others served.
  ["cold.status_401_share{node=tenant-a@gw-1}"] = "> 95%",
  ["cold.error_rate{node=tenant-b@gw-1}"] = "< 1%",
  ["cold.error_rate{node=gw-1}"] = "< 1%",
  ["recover.error_rate{node=tenant-b@gw-1}"] = "< 1%",
}

expect {
  -- Why tenant A was refused, as the gateway counted its answers over the window.
  during("jwks_down", { node = "gw-1", reason_jwks_unavailable = "> 0" }),
  after("jwks_down", { node = "tenant-a@gw-1", recovered_within = "3s" }),
}
