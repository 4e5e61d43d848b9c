-- cluster-isolation (seeds 000, 002): the gateways route two paths to two named upstream
-- clusters, each an upstream peer of its own with its own pool, timeout and circuit breaker.
-- The billing cluster's upstream becomes slow (200 ms per answer, over its 150 ms timeout): its
-- requests time out (504), after 5 failures in a row its breaker opens and the gateway answers
-- 503 circuit_open without trying, probing once a second. The catalog cluster and the app (the
-- default cluster, the load's own path) share the gateway but not the breaker or the pool: their
-- errors and p99 must not move. Fast again: the next probe closes billing's breaker.
--
--   gatedrill drills run cluster-isolation [--short]

scenario {
  name = "cluster-isolation",
  description = "One cluster's upstream slows down: its requests time out and its breaker opens (503 circuit_open); the other cluster and the app keep their error rate and p99.",
  seeds = { "000", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "1ms" },
  upstreams = {
    catalog = { latency = "1ms" },
    billing = { latency = "1ms", timeout = "150ms", breaker_failures = 5, breaker_open_for = "1s" },
  },
  routes = { ["/api/catalog"] = "catalog", ["/api/billing"] = "billing" },
}

-- The load's own stream goes to the app (/api/orders); catalog@gw-1 and billing@gw-1 each get a
-- quarter of the rate on their cluster's route.
local rate = param("RATE", pick(1000, 400))
local warmup, slow, recover = pick(10, 3), pick(20, 5), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "slow", rate = rate, duration = slow },
  { name = "recover", rate = rate, duration = recover },
}

-- Half a second inside the slow phase (and out of it half a second before its end), so no
-- request planned in the warm-up is held by the fault.
at(warmup + 0.5, function()
  fault.latency { node = "billing", latency = param("SLOW", "200ms"), duration = slow - 1 }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=billing@gw-1}"] = "< 1%",
  -- The other cluster and the default one are untouched while billing fails: no errors, and a
  -- tail below billing's 150 ms timeout, which a request sharing its pool or breaker would meet
  -- (or get its 503s). The bound leaves room for a busy machine's scheduling delays (~100 ms seen
  -- at load average 10).
  ["slow.error_rate{node=catalog@gw-1}"] = "< 1%",
  ["slow.p99{node=catalog@gw-1}"] = "< 150ms",
  ["slow.error_rate{node=gw-1}"] = "< 1%",
  ["slow.p99{node=gw-1}"] = "< 150ms",
  ["recover.error_rate{node=catalog@gw-1}"] = "< 1%",
}

expect {
  -- Billing's own stream: mostly refused by its open breaker (the rest timed out, 504).
  during("latency", { node = "billing@gw-1", status_503_share = "> 50%" }),
  -- The gateway counted the breaker's refusals (its answers by reason over the window).
  during("latency", { node = "gw-1", reason_circuit_open = "> 0" }),
  after("latency", { node = "billing@gw-1", recovered_within = "3s" }),
}
