-- mtu-blackhole (DRILLS.md; seed 001): the path between clients and the gateway has an MTU
-- smaller than full-size packets and the ICMP "fragmentation needed" never arrives. Small
-- requests fit and pass; a large request body's segments vanish, so those requests time out.
-- Fixing the MTU lets the data through (at the next retransmission, or at once in emulation).
--
-- Where the machine allows (root, `ip netns`), the load reaches gw-1 through network namespaces
-- (client - router - server) whose router->server link drops to the MTU while the router's
-- ICMP is black-holed: a true PMTU black hole. Elsewhere the fault proxy in front of gw-1
-- emulates it (its mtu_blackhole toxic). Force either with -e MODE=real|proxy; the fault
-- window's event (and the console) records the mechanism and, for the emulation, why.
--
--   gatedrill drills run mtu-blackhole [--short] [-e MODE=auto|real|proxy]

scenario {
  name = "mtu-blackhole",
  description = "Path MTU black hole: small requests pass, large bodies time out; MTU fixed: large bodies pass.",
  seeds = { "001" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  proxies = { "gw-1" },
}

local rate = param("RATE", pick(500, 200))
local mode = param("MODE", "auto")
local warmup, small, large, fixed = pick(10, 3), pick(15, 3), pick(15, 4), pick(15, 6)

load {
  { name = "warmup", rate = rate, duration = warmup, connections = 64 },
  { name = "small", rate = rate, duration = small, connections = 64 },
  { name = "large", rate = rate, duration = large, connections = 64, body = "16KiB" },
  { name = "fixed", rate = rate, duration = fixed, connections = 64, body = "16KiB" },
}

at(warmup - 0.5, function()
  fault.mtu { node = "gw-1", mtu = 1400, stream = "upstream", mode = mode, duration = small + large + 0.5 }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- Small requests fit in one segment and pass.
  ["small.error_rate"] = "< 1%",
  -- Large bodies never arrive whole: they time out.
  ["large.error_rate"] = "> 50%",
  -- Fixed: new requests pass. Those still in flight when it was fixed may time out (at most one
  -- per connection: in real mode each waits for its TCP retransmission backoff).
  ["fixed.error_rate"] = "< 5%",
}

expect {
  after("mtu", { node = "gw-1", recovered_within = "3s" }),
}
