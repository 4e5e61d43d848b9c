-- cluster-deregistered (seed 003): two upstream clusters behind the gateways, each registered
-- in the registry's discovery as its own service (at its own peer, with its own heartbeat), and
-- the gateways' routes published to the registry (no --routes file: a gateway is ready once it
-- enforces the registry's table). Billing's heartbeat stops: its registration expires and the
-- gateways answer its routes 503 service_not_found without trying it, while the catalog cluster
-- and the app keep serving. Heartbeat back: billing's routes are restored.
--
--   gatedrill drills run cluster-deregistered [--short] [-e ROUTES=file]

scenario {
  name = "cluster-deregistered",
  description = "One upstream cluster's registration expires: 503 service_not_found on its routes only (the other cluster and the app keep serving); heartbeat back: restored.",
  seeds = { "003" },
}

topology {
  gateways = 1,
  tls = "tls",
  registry = { poll = "250ms", heartbeat_ttl = "1s", discovery = true,
               publish_routes = param("ROUTES", "registry") == "registry" },
  policy = "policies/rbac.rego",
  upstreams = { catalog = { latency = "1ms" }, billing = { latency = "1ms" } },
  -- Under the orders API, which the RBAC policy lets the load read.
  routes = { ["/api/orders/catalog"] = "catalog", ["/api/orders/billing"] = "billing" },
}

local rate = param("RATE", pick(800, 400))
local warmup, gone, recover = pick(15, 3), pick(30, 5), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "gone", rate = rate, duration = gone },
  { name = "back", rate = rate, duration = recover },
}

-- Half a second into the phase, so no warm-up request meets the fault.
at(warmup + 0.5, function()
  fault.deregister { service = "billing", duration = gone - 1 }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=billing@gw-1}"] = "< 1%",
  ["gone.error_rate{node=catalog@gw-1}"] = "< 1%",
  ["gone.error_rate{node=gw-1}"] = "< 1%",
}

expect {
  -- The registration expires a heartbeat TTL into the window; then billing's routes are refused.
  during("deregister", { node = "billing@gw-1", status_503_share = "> 50%" }),
  during("deregister", { node = "gw-1", reason_service_not_found = "> 0" }),
  after("deregister", { node = "billing@gw-1", recovered_within = "2s" }),
}
