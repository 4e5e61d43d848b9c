-- registry-offline (DRILLS.md; seed 003): the policy registry goes down. Nodes that have a
-- policy keep enforcing the last good revision; a node that starts during the outage (gw-2 is
-- killed and restarted by its supervisor) has none and fails closed (503 no_policy). When the
-- registry is back, the new node syncs and serves.
--
-- Before the outage the registry is only slow: every answer takes 2 s, longer than the nodes'
-- 250 ms poll (registry_slow). Polls pile up late, and still every node keeps enforcing the
-- policy it has: a slow registry must not cost a single request.
--
--   gatedrill run scenarios/drills/registry-offline.lua [-e SHORT=1]

scenario {
  name = "registry-offline",
  description = "Registry slow, then down: last good policy keeps serving; a node started meanwhile fails closed; registry back: sync.",
  seeds = { "003" },
}

topology {
  gateways = 2,
  tls = "tls",
  registry = { poll = "250ms" },
  policy = "policies/rbac.rego",
}

local rate = param("RATE", pick(800, 400))
local warmup, offline, recover = pick(15, 3), pick(30, 5), pick(15, 5)
local slow = pick(10, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "slow", rate = rate, duration = slow },
  { name = "offline", rate = rate, duration = offline },
  { name = "back", rate = rate, duration = recover },
}

-- Cleared half a second before the outage: the registry has one fault mode at a time, and
-- clearing the slow one must not end the outage.
at(warmup, function()
  fault.registry_slow { latency = "2s", duration = slow - 0.5 }
end)
at(warmup + slow, function()
  fault.registry_offline { duration = offline }
end)
at(warmup + slow + 0.5, function()
  fault.kill { node = "gw-2" }  -- restarted at once, with no policy to enforce
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
}

expect {
  -- The last good revision keeps serving ...
  during("registry_offline", { node = "gw-1", error_rate = "< 1%" }),
  -- ... and a node without one fails closed.
  during("registry_offline", { node = "gw-2", error_rate = "> 90%" }),
  -- The poller backs off (full jitter, at most 10 polls) while the registry is down.
  after("registry_offline", { node = "gw-2", recovered_within = "4s" }),
  -- Slow answers: every node keeps serving what it has.
  during("registry_slow", { error_rate = "< 1%" }),
  after("registry_slow", { recovered_within = "1s" }),
}
