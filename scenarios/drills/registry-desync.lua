-- registry-desync (DRILLS.md; seed 003): the registry publishes a new policy revision (the
-- orders API closed) but, like a partitioned or stale state store, keeps serving gw-2 the
-- previous one. The same request is denied on gw-1 and allowed on gw-2: a split between nodes.
-- When propagation is restored (and the change rolled back) the nodes agree again.
--
--   gatedrill run scenarios/drills/registry-desync.lua [-e SHORT=1]

scenario {
  name = "registry-desync",
  description = "Policy revision N+1 reaches gw-1 only: same request denied on gw-1, allowed on gw-2; propagation: consistent.",
  seeds = { "003" },
}

topology {
  gateways = 2,
  tls = "tls",
  registry = { poll = "250ms" },
  policy = "policies/rbac.rego",
}

local rate = param("RATE", pick(800, 400))
local warmup, split, recover = pick(15, 3), pick(30, 4), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "split", rate = rate, duration = split },
  { name = "consistent", rate = rate, duration = recover },
}

at(warmup, function()
  -- gw-2 keeps getting revision N; then N+1 is published. Cleared in the same order: the
  -- registry propagates to everyone again, and the previous revision comes back.
  fault.registry_partial { nodes = { "gw-2" }, duration = split }
  fault.policy_publish { file = "policies/deny-orders.rego", duration = split }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["consistent.node_split"] = "< 1%",
}

expect {
  during("policy_publish", { node_split = "> 40%" }),
  during("policy_publish", { node = "gw-1", status_403_share = "> 90%" }),
  during("policy_publish", { node = "gw-2", error_rate = "< 1%" }),
  after("policy_publish", { recovered_within = "2s" }),
}
