-- service-deregistered (DRILLS.md; seed 003): the upstream's registration heartbeat stops. Its
-- registration expires in the registry's discovery, and the gateways answer its routes with
-- 503 service_not_found (without trying the upstream). Heartbeats back: routes restored.
-- A second service, "catalog" (its own registration and heartbeat, its route under the app's
-- path, its own stream catalog@gw-1), keeps serving throughout: only the routes of the
-- service whose heartbeat stopped fail.
--
-- With -e ROUTES=registry the routes are published to the registry instead of a --routes file:
-- the gateways start with no table, answer 503 routes_not_loaded (and are not ready) until they
-- enforce the registry's, and then behave the same.
--
--   gatedrill drills run service-deregistered [--short] [-e ROUTES=registry]

scenario {
  name = "service-deregistered",
  description = "The app's heartbeat stops: 503 service_not_found for its routes only (catalog keeps serving); heartbeat back: routes restored.",
  seeds = { "003" },
}

topology {
  gateways = 1,
  tls = "tls",
  registry = { poll = "250ms", heartbeat_ttl = "1s", discovery = true, services = { "catalog" },
               publish_routes = param("ROUTES", "file") == "registry" },
  policy = "policies/rbac.rego",
}

local rate = param("RATE", pick(800, 400))
local warmup, gone, recover = pick(15, 3), pick(30, 5), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "gone", rate = rate, duration = gone },
  { name = "back", rate = rate, duration = recover },
}

at(warmup, function()
  fault.deregister { service = "app", duration = gone }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=catalog@gw-1}"] = "< 1%",
}

expect {
  -- The registration lives heartbeat_ttl after the last beat, then the route answers 503.
  during("deregister", { status_503_share = "> 60%" }),
  -- The gateway says why, without trying the upstream.
  during("deregister", { node = "gw-1", reason_service_not_found_share = "> 50%" }),
  -- The other service's route is untouched.
  during("deregister", { node = "catalog@gw-1", error_rate = "< 1%" }),
  after("deregister", { recovered_within = "2s" }),
}
