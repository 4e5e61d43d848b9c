-- clock-skew-gateway (DRILLS.md; seeds 000, 001, 002): a gateway node's wall clock moves beyond
-- the JWT leeway. Ahead by 10 minutes, every token looks expired (they live 5 minutes, the
-- leeway is 60 s): 401 "token expired" on that node only, the other node keeps serving. Then
-- both nodes fall 10 minutes behind: every token is "not yet valid" everywhere, a total lockout.
-- Each clock put back: 2xx again within a second.
--
--   gatedrill drills run clock-skew-gateway            (about 1 minute)
--   gatedrill drills run clock-skew-gateway --short    (CI, about 20 s)
--   ... -e BEHIND=50s                                  (inside the 60 s leeway: no lockout, it FAILS)
--   ... -e BEHIND=50s -e LEEWAY=10s                    (a tighter leeway: lockout again, it passes)

scenario {
  name = "clock-skew-gateway",
  description = "Gateway clock beyond the leeway: 401 on the skewed node (all nodes: lockout), 2xx within 1 s of fixing it.",
  seeds = { "000", "001", "002" },
}

topology {
  gateways = 2,
  tls = "tls",
  jwt = { leeway = param("LEEWAY", "60s"), token_ttl = "5m" },
  upstream = { latency = "200us" },
}

local rate = param("RATE", pick(1000, 400))
-- How far the clocks move. Tokens are minted at the start and live 5 minutes: they look expired
-- on a clock more than token_ttl + leeway ahead, and not yet valid on a clock more than the
-- leeway behind (the IdP stamps nbf = iat = mint time).
local ahead, behind = param("AHEAD", "10m"), param("BEHIND", "10m")
local warmup, skewed, between, lockout, final = pick(10, 3), pick(15, 4), pick(10, 3), pick(15, 3), pick(10, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "skewed", rate = rate, duration = skewed },
  { name = "between", rate = rate, duration = between },
  { name = "lockout", rate = rate, duration = lockout },
  { name = "final", rate = rate, duration = final },
}

-- One node ahead: its tokens look expired.
at(warmup, function()
  fault.clock_skew { node = "gw-1", offset = "+" .. ahead, duration = skewed }
end)
-- Every node behind: tokens look not yet valid everywhere.
at(warmup + skewed + between, function()
  fault.clock_skew { node = "gw-1", offset = "-" .. behind, duration = lockout }
  fault.clock_skew { node = "gw-2", offset = "-" .. behind, duration = lockout }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- The node with a good clock is not affected while its neighbour is skewed.
  ["skewed.error_rate{node=gw-2}"] = "< 1%",
  -- All nodes skewed: nothing gets through.
  ["lockout.status_401_share"] = "> 95%",
}

expect {
  during("clock_skew", { node = "gw-1", status_401_share = "> 95%" }),
  during("clock_skew", { node = "gw-2", status_401_share = "> 95%" }),
  after("clock_skew", { node = "gw-1", recovered_within = "1s" }),
  after("clock_skew", { node = "gw-2", recovered_within = "1s" }),
}
