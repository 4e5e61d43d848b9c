-- rbac-mismatch (DRILLS.md; seeds 001, 002): a policy update through the registry mistypes one
-- principal's role. That identity ("bob", its own tokens) gets 403 policy_denied on every
-- request while everyone else is unaffected; each deny is in the gateway's decision log with
-- the policy version that made it. Publishing the fix (the previous revision back) restores 2xx.
--
--   gatedrill run scenarios/drills/rbac-mismatch.lua [-e SHORT=1]

scenario {
  name = "rbac-mismatch",
  description = "Policy update with a wrong role: 403 for the affected identity only; policy fixed: 2xx.",
  seeds = { "001", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  identities = { "bob" },
  registry = { poll = "250ms" },
  policy = "policies/rbac.rego",
}

local rate = param("RATE", pick(800, 300))
local bob = pick(200, 100)
local warmup, wrong, fixed = pick(15, 3), pick(30, 4), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup, identities = { bob = bob } },
  { name = "wrong", rate = rate, duration = wrong, identities = { bob = bob } },
  { name = "fixed", rate = rate, duration = fixed, identities = { bob = bob } },
}

at(warmup, function()
  -- The bad revision is live for `wrong`, then the previous one is published again.
  fault.policy_publish { file = "policies/rbac-wrong-role.rego", duration = wrong }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=bob@gw-1}"] = "< 1%",
}

expect {
  -- The affected identity is refused ...
  during("policy_publish", { node = "bob@gw-1", status_403_share = "> 90%" }),
  -- Every deny it saw is in the gateway's decision log, with the policy version that made it.
  during("policy_publish", { node = "bob@gw-1", audit_deny_share = "> 90%" }),
  -- ... and only it: the other clients on the same node see nothing.
  during("policy_publish", { node = "gw-1", error_rate = "< 1%" }),
  after("policy_publish", { node = "bob@gw-1", recovered_within = "2s" }),
}
