-- upstream-pool-exhaustion (DRILLS.md; seeds 000, 002): the upstream becomes slow (200 ms per
-- answer) behind a gateway whose upstream pool is bounded (16 requests in flight). At 400
-- requests/s only 16 / 0.2 s = 80/s fit: the rest overflow at once with 503 max_requests, and
-- those that get a slot wait 200 ms, so the tail latency jumps. Fast again: the pool drains and
-- 2xx return within a second.
--
-- Not asserted here: the circuit breaker opening. Overflow never reaches the upstream, so it
-- does not count as a failure; the breaker opens on upstream errors and timeouts (see
-- upstream-down, where it does). Its state is on the gateway's /metrics
-- (gatedrill_gateway_upstream_circuit_open).
--
--   gatedrill drills run upstream-pool-exhaustion [--short]

scenario {
  name = "upstream-pool-exhaustion",
  description = "Slow upstream, bounded pool: 503 max_requests for what does not fit, p99 jumps; 2xx once fast again.",
  seeds = { "000", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "1ms" },
  gateway = { args = { "--max-upstream-requests", param("POOL", "16") } },
}

local rate = param("RATE", pick(1000, 400))
local prewarm, warmup, slow, recover = pick(5, 2), pick(10, 2), pick(30, 5), pick(20, 4)
-- Enough client connections that the load really piles up at the gateway (each connection has
-- one request in flight). Opening them all (TLS handshakes) takes a moment: the prewarm phase
-- absorbs that and is not judged.
local connections = 128

load {
  { name = "prewarm", rate = rate / 4, duration = prewarm, connections = connections },
  { name = "warmup", rate = rate, duration = warmup, connections = connections },
  { name = "slow", rate = rate, duration = slow, connections = connections },
  { name = "recover", rate = rate, duration = recover, connections = connections },
}

at(prewarm + warmup, function()
  fault.latency { node = "app", latency = param("SLOW", "200ms"), duration = slow }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.p99"] = "< 100ms",
  ["recover.p99"] = "< 100ms",
}

expect {
  -- Most requests overflow (503), and the tail shows the ones that waited for the slow upstream.
  during("latency", { status_503_share = "> 50%", p99 = "> 150ms" }),
  after("latency", { recovered_within = "2s" }),
}
