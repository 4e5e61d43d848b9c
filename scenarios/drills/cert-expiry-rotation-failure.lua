-- cert-expiry-rotation-failure (DRILLS.md; seeds 002, 003): the gateways serve short-lived SVIDs
-- from the CA, renewed at half-life and hot-reloaded. The CA stops rotating: the serving SVID
-- runs past notAfter and every new handshake fails (certificate expired), so clients see
-- connection errors. When rotation is restored the next renewal is picked up and reloaded.
--
--   gatedrill run scenarios/drills/cert-expiry-rotation-failure.lua [-e SHORT=1]

scenario {
  name = "cert-expiry-rotation-failure",
  description = "SVID rotation stops: the serving SVID expires, handshakes fail; rotation restored: new SVID, success.",
  seeds = { "002", "003" },
}

topology {
  gateways = 1,
  tls = "mtls",
  -- Serving SVIDs live ttl and are renewed at ttl/2: after a stop they expire within ttl.
  pki = { svid_ttl = pick("20s", "4s"), requests_per_connection = 20 },
}

local rate = param("RATE", pick(1000, 400))
local ttl = pick(20, 4)
local warmup, recover = pick(15, 3), pick(15, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "stopped", rate = rate, duration = ttl },   -- may still be valid
  { name = "expired", rate = rate, duration = ttl },   -- past notAfter for sure
  { name = "recover", rate = rate, duration = recover },
}

at(warmup, function()
  fault.ca_stop_rotation { duration = 2 * ttl }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["expired.error_rate"] = "> 90%",
}

expect {
  -- Failed handshakes, while the served SVID is past notAfter (the window also holds its last
  -- valid seconds; the "expired" phase threshold judges the expired part on its own).
  during("ca_stop_rotation", { errors = "> 10" }),
  after("ca_stop_rotation", { recovered_within = "2s" }),
}
