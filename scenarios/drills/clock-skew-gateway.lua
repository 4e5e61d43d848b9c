-- clock-skew-gateway (DRILLS.md; seeds 000, 001, 002): a gateway node's wall clock moves beyond
-- the JWT leeway. Ahead by 10 minutes, every token looks expired (they live 5 minutes, the
-- leeway is 60 s): 401 "token expired" on that node only, the other node keeps serving. Then
-- both nodes fall 10 minutes behind: every token is "not yet valid" everywhere, a total lockout.
-- Each clock put back: 2xx again within a second.
--
--   gatedrill drills run clock-skew-gateway            (about 1 minute)
--   gatedrill drills run clock-skew-gateway --short    (CI, about 20 s)

scenario {
  name = "clock-skew-gateway",
  description = "Gateway clock beyond the leeway: 401 on the skewed node (all nodes: lockout), 2xx within 1 s of fixing it.",
  seeds = { "000", "001", "002" },
}

local short = param("SHORT", 0) == 1
local function pick(long, short_value) if short then return short_value end return long end

topology {
  gateways = 2,
  tls = "tls",
  jwt = { leeway = "60s", token_ttl = "5m" },
  upstream = { latency = "200us" },
}

local rate = param("RATE", pick(1000, 400))
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
  fault.clock_skew { node = "gw-1", offset = "+10m", duration = skewed }
end)
-- Every node behind: tokens look not yet valid everywhere.
at(warmup + skewed + between, function()
  fault.clock_skew { node = "gw-1", offset = "-10m", duration = lockout }
  fault.clock_skew { node = "gw-2", offset = "-10m", duration = lockout }
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
