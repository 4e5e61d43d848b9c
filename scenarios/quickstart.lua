-- The quickstart drill: one TLS gateway in front of an upstream, tokens from the IdP, open-loop
-- load. Halfway through, the gateway's wall clock jumps ten minutes ahead: every token now looks
-- expired (the tokens live 5 minutes, the leeway is 60 s), so the gateway answers 401
-- "token expired" until the clock is put back, then recovers at once.
--
--   gatedrill run scenarios/quickstart.lua                 (about 25 s)
--   gatedrill run scenarios/quickstart.lua -e RATE=5000    (more load)

scenario {
  name = "quickstart",
  description = "Gateway clock jumps past the JWT leeway: 401 token_expired while skewed, 2xx right after.",
  seeds = { "000", "001", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  path = "/api/orders",
  jwt = { leeway = "60s", algs = { "RS256" }, token_ttl = "5m" },
  upstream = { latency = "200us", body = 512 },
}

local rate = param("RATE", 1000)

load {
  { name = "warmup", rate = rate / 2, duration = param("WARMUP", "3s") },
  { name = "steady", rate = rate, duration = param("DURATION", "17s"), tokens = 200 },
}

at(param("SKEW_AT", "8s"), function()
  fault.clock_skew { node = "gw-1", offset = "+10m", duration = param("SKEW_FOR", "4s") }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["steady.p99"] = "< " .. param("P99", "100ms"),
}

expect {
  -- The symptom: while skewed, (nearly) every request is refused as expired ...
  during("clock_skew", { node = "gw-1", status_401_share = "> 95%" }),
  -- ... and the recovery: clean seconds again right after the clock is fixed.
  after("clock_skew", { node = "gw-1", recovered_within = "2s" }),
}
