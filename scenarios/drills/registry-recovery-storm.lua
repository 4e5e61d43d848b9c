-- registry-recovery-storm (DRILLS.md; seed 003): the registry is down while every gateway
-- restarts, so no node has a policy (all fail closed). When the registry comes back, every node
-- refetches at once; the drill bounds the time until all of them enforce the current revision
-- again (the first second where the whole fleet serves). The pollers back off with full jitter,
-- which spreads the refetches over up to ten poll intervals; -e JITTER=0 makes them retry in
-- lockstep after exactly the backoff cap, to compare the convergence time (the after() line).
-- The registry counts the bundle fetches it answers per 100 ms (GET /admin/stats/fetches): with
-- -e JITTER=0 the drill also asserts the refetch burst, every node in the same 100 ms, beyond
-- twice the steady polling (the seed's 2x planning rule). With three nodes that resolution cannot
-- tell jitter from lockstep (three fetches in one window happen either way once the nodes' polls
-- line up again), so the jittered run asserts only the convergence.
--
--   gatedrill run scenarios/drills/registry-recovery-storm.lua [-e SHORT=1] [-e JITTER=0]

scenario {
  name = "registry-recovery-storm",
  description = "Registry back after an outage with every node policy-less: all refetch at once; convergence within a bound.",
  seeds = { "003" },
}

local jitter = param("JITTER", 1)

topology {
  gateways = 3,
  tls = "tls",
  registry = { poll = "250ms", jitter = jitter == 1 },
  policy = "policies/rbac.rego",
}

local rate = param("RATE", pick(900, 450))
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
  for i = 1, 3 do fault.kill { node = "gw-" .. i } end
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["back.node_split"] = "< 40%",
}

expect {
  -- Every node is policy-less and fails closed while the registry is away ...
  during("registry_offline", { node_error_share = "> 90%" }),
  -- ... and the whole fleet converges within the bound once it is back.
  after("registry_offline", { recovered_within = "4s" }),
  -- In lockstep every node refetches in the same 100 ms: the registry sees a burst beyond the
  -- seed's 2x planning headroom (peak fetches per 100 ms against the warm-up's mean).
  jitter == 0 and after("registry_offline", { refetch_burst = "> 2" }) or nil,
}
