-- registry-offline (DRILLS.md; seed 003): the policy registry goes down. Nodes that have a
-- policy keep enforcing the last good revision; a node that starts during the outage (gw-2 is
-- killed and restarted by its supervisor) has none and fails closed (503 no_policy). When the
-- registry is back, the new node syncs and serves.
--
--   gatedrill run scenarios/drills/registry-offline.lua [-e SHORT=1]

scenario {
  name = "registry-offline",
  description = "Registry down: last good policy keeps serving; a node started meanwhile fails closed; registry back: sync.",
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

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "offline", rate = rate, duration = offline },
  { name = "back", rate = rate, duration = recover },
}

at(warmup, function()
  fault.registry_offline { duration = offline }
end)
at(warmup + 0.5, function()
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
}
