-- upstream-pool-exhaustion (DRILLS.md; seeds 000, 002): the upstream becomes slow (200 ms per
-- answer) behind a gateway whose upstream pool is bounded (16 requests in flight) and whose
-- upstream timeout is 150 ms. At 400 requests/s only 16 / 0.15 s ~ 100/s fit: the rest overflow
-- at once with 503 max_requests, and those that get a slot time out, so the tail latency jumps.
-- The timeouts are upstream failures: after 5 in a row the circuit breaker opens and the gateway
-- answers 503 circuit_open without trying; every second it lets a probe through (half-open),
-- which fails while the upstream is slow. Fast again: the next probe succeeds, the breaker
-- closes, the pool drains and 2xx return within a second or two. The gateways' own count of
-- their answers by reason (reason_circuit_open, reason_max_requests) tells the two 503s apart.
--
--   gatedrill drills run upstream-pool-exhaustion [--short]

scenario {
  name = "upstream-pool-exhaustion",
  description = "Slow upstream, bounded pool: 503 max_requests, then the breaker opens (503 circuit_open), p99 jumps; fast again: breaker closes, 2xx.",
  seeds = { "000", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "1ms" },
  gateway = {
    args = {
      "--max-upstream-requests", param("POOL", "16"),
      "--upstream-timeout", "150ms",
      "--breaker-failures", "5",
      "--breaker-open-for", "1s",
    },
  },
}

local rate = param("RATE", pick(1000, 400))
local prewarm, warmup, slow, recover = pick(5, 4), pick(10, 2), pick(30, 5), pick(20, 4)
-- Enough client connections that the load really piles up at the gateway (each connection has
-- one request in flight). Opening them all (TLS handshakes) takes a moment: the prewarm phase
-- absorbs that and is not judged. On a busy 2-core machine the 128 handshakes and the backlog
-- they leave take 1.5 s (load average 8-9; connect timeouts and answers 1-2 s late): a 2 s
-- prewarm left it to the warm-up (p99 0.8-2 s, 3-33% errors), 4 s does not.
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
  -- The tail jumps as the pool fills: the slot holders of the first moments time out at 150 ms.
  ["slow.p99"] = "> 100ms",
}

expect {
  -- Most requests are refused (503); the ones that got a slot (and the breaker's probes) waited
  -- for the slow upstream until they timed out.
  during("latency", { status_503_share = "> 50%", max = "> 100ms" }),
  -- The pool overflowed first (max_requests), then the breaker opened and refused most of the
  -- rest without trying (circuit_open), as the gateway itself counted its answers.
  during("latency", { node = "gw-1", reason_max_requests = "> 0", reason_circuit_open_share = "> 10%" }),
  after("latency", { recovered_within = "2s" }),
}
