-- rate-limit (DRILLS.md; seeds 001, 003): one identity ("hot", its own tokens) sends far more
-- than the per-identity limit the gateways enforce. It gets 429 "rate_limited" for the excess;
-- the regular clients (the IdP's client id) share the node and are not affected. When the hot
-- identity slows down below its limit, it gets 2xx again. The fault is the load itself: the
-- burst phase, marked as a load_surge window so the symptom and the recovery are judged on it.
--
--   gatedrill drills run rate-limit [--short]

scenario {
  name = "rate-limit",
  description = "One identity over its rps limit: 429 for it only, other identities unaffected; below the limit: 2xx.",
  seeds = { "001", "003" },
}

local limit = param("LIMIT", 200)

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  -- Requests/s per identity and route, with a bucket of a quarter second.
  gateway = { rate_limit = limit, burst = limit / 4 },
  identities = { "hot" },
}

local rate = param("RATE", pick(150, 100))  -- the regular clients: below the limit
local hot = param("HOT", limit * 3)         -- the hot identity in the burst: 3x its limit
local warmup, burst, calm = pick(15, 3), pick(20, 5), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup, identities = { hot = limit / 2 } },
  { name = "burst", rate = rate, duration = burst, identities = { hot = hot } },
  { name = "calm", rate = rate, duration = calm, identities = { hot = limit / 2 } },
}

-- The burst phase is the fault: its window is recorded like any other.
at(warmup, function()
  fault.load_surge { identity = "hot", duration = burst }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=hot@gw-1}"] = "< 1%",
  -- The symptom: the excess of the hot identity is refused with 429 ...
  ["burst.status_429_share{node=hot@gw-1}"] = "> 50%",
  -- ... and only its excess: the regular clients on the same node see nothing.
  ["burst.error_rate"] = "< 1%",
  ["burst.status_429"] = "< 1",
  -- Back under the limit: 2xx again.
  ["calm.error_rate{node=hot@gw-1}"] = "< 1%",
}

expect {
  -- While the hot identity is over its limit, most of its requests are refused with 429 ...
  during("load_surge", { node = "hot@gw-1", status_429_share = "> 50%" }),
  -- ... and once it is back under the limit, it is served again at once.
  after("load_surge", { node = "hot@gw-1", recovered_within = "1s" }),
}
