-- break-glass (DRILLS.md; seed 003): the orders API is frozen by policy (403). An operator
-- switches the registry to the emergency policy through its break-glass call (actor and reason
-- audited): the load's identity is allowed again while it is on. Switching it off brings the
-- normal policy back (403 again).
--
--   gatedrill run scenarios/drills/break-glass.lua [-e SHORT=1]

scenario {
  name = "break-glass",
  description = "Emergency policy via audited break-glass: allow while on; off: the normal policy again.",
  seeds = { "003" },
}

topology {
  gateways = 1,
  tls = "tls",
  registry = { poll = "250ms" },
  policy = "policies/locked-down.rego",
}

local rate = param("RATE", pick(800, 400))
local frozen, glass, recover = pick(15, 3), pick(30, 4), pick(15, 4)

load {
  { name = "frozen", rate = rate, duration = frozen },
  { name = "glass", rate = rate, duration = glass },
  { name = "restored", rate = rate, duration = recover },
}

at(frozen, function()
  fault.break_glass {
    file = "policies/break-glass.rego",
    actor = "oncall@example.test",
    reason = "INC-1234: orders frozen by policy during checkout outage",
    duration = glass,
  }
end)

thresholds {
  ["frozen.status_403_share"] = "> 99%",
  -- Off again: the normal (frozen) policy is back; skip the switch-over second.
  ["restored.status_403_share"] = "> 70%",
}

expect {
  during("break_glass", { status_2xx_share = "> 90%" }),
  -- Everything audited: every answer the clients got is in the decision log.
  during("break_glass", { node = "gw-1", audit_share = "> 95%" }),
}
