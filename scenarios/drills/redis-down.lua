-- redis-down (DRILLS.md; seeds 000, 003): the gateways' Redis (JTI revocation, global rate
-- limit) is killed. A revocation check that cannot reach Redis fails closed by default: 503
-- "revocation_unavailable" once the cached "not revoked" answers expire; with
-- `-e FAIL=open` the tokens are let through (and counted) instead. Rate limiting falls back to
-- the local limits. Redis is started again when the window ends and the link comes back.
--
--   gatedrill drills run redis-down [--short] [-e FAIL=open] [-e MODE=hang|blackhole]

scenario {
  name = "redis-down",
  description = "Redis killed: revocation fails closed (503) or open per config; Redis back: 2xx and global limits resume.",
  seeds = { "000", "003" },
}

local fail = param("FAIL", "closed")
local mode = param("MODE", "kill")  -- kill | hang | blackhole

topology {
  gateways = 2,
  tls = "tls",
  upstream = { latency = "200us" },
  redis = true,
  proxies = { "redis" },
  gateway = { args = { "--revocation-fail", fail, "--revocation-cache-ttl", "500ms", "--redis-timeout", "100ms" } },
}

local rate = param("RATE", pick(1000, 400))
local warmup, down, reconnect, back = pick(15, 3), pick(20, 4), pick(5, 2), pick(15, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "down", rate = rate, duration = down },
  -- Redis restarts and the gateways' links reconnect (measured by after() below).
  { name = "reconnect", rate = rate, duration = reconnect },
  { name = "back", rate = rate, duration = back },
}

at(warmup, function()
  fault.redis_down { mode = mode, duration = down }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["back.error_rate"] = "< 1%",
}
if fail ~= "open" then
  -- Fail closed: the phase without Redis is refused (503 revocation_unavailable).
  thresholds { ["down.status_503_share"] = "> 70%" }
end

if fail == "open" then
  expect {
    -- Fail open: nothing visible to clients (the gateway counts the unchecked requests).
    during("redis_down", { error_rate = "< 1%" }),
    after("redis_down", { recovered_within = "1s" }),
  }
else
  expect {
    -- Fail closed: after the cached answers expire, every request is refused with 503.
    during("redis_down", { status_503_share = "> 70%" }),
    after("redis_down", { recovered_within = "2s" }),
  }
end
