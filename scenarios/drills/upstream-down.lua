-- upstream-down (DRILLS.md; seeds 000, 002): the upstream service is killed. The gateway cannot
-- connect: 503 "upstream connect error", then its circuit breaker opens and answers 503
-- "circuit_open" without trying. The service is started again when the window ends; the
-- breaker's half-open probe succeeds and traffic flows within its open interval.
--
--   gatedrill drills run upstream-down [--short]

scenario {
  name = "upstream-down",
  description = "Upstream killed: 503 upstream connect error / circuit open; restarted: 2xx after the breaker's probe.",
  seeds = { "000", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  -- The connect timeout is well past down.p99's bound: a gateway that waited out connects to the
  -- dead port instead of taking the refusal would hold hundreds of requests for 2 s and miss it.
  gateway = { args = { "--breaker-failures", "5", "--breaker-open-for", "500ms", "--upstream-connect-timeout", "2s" } },
}

local rate = param("RATE", pick(1000, 400))
local warmup, down, recover = pick(10, 3), pick(30, 4), pick(20, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "down", rate = rate, duration = down },
  { name = "recover", rate = rate, duration = recover },
}

at(warmup, function()
  fault.kill { node = "app", duration = down }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- Refused fast, not hanging: the gateway answers for the upstream.
  ["down.p99"] = "< 600ms",
}

expect {
  during("kill", { node = "app", status_503_share = "> 95%" }),
  after("kill", { node = "app", recovered_within = "2s" }),
}
