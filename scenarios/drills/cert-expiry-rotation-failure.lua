-- cert-expiry-rotation-failure (DRILLS.md; seeds 002, 003): workloads hold short-lived SVIDs
-- from the CA and renew them at half-life. Here the load is the workload: its client SVID lives
-- ttl, the trust agent renews it at ttl/2 and rewrites its files, and the load presents the
-- renewed one from its next handshake (it re-handshakes every 20 requests). The CA stops
-- rotating: renewals are refused, the client SVID runs past notAfter, and the gateways refuse
-- every new handshake (alert certificate_expired), so clients see connection errors. When
-- rotation is restored the next renewal succeeds, the load presents the new SVID, and requests
-- succeed again. (The gateways' serving SVIDs live an hour here, so only the clients' expire.)
--
--   gatedrill drills run cert-expiry-rotation-failure [--short]

scenario {
  name = "cert-expiry-rotation-failure",
  description = "SVID rotation stops: the clients' SVIDs expire, handshakes fail; rotation restored: renewed SVID, success.",
  seeds = { "002", "003" },
}

topology {
  gateways = 1,
  tls = "mtls",
  -- The load's SVID lives client_ttl and is renewed at half of it: after a stop it expires
  -- within client_ttl.
  pki = { client_ttl = pick("20s", "4s"), requests_per_connection = 20 },
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
  -- Refused handshakes, once the client SVID is past notAfter (the window also holds its last
  -- valid seconds; the "expired" phase threshold judges the expired part on its own).
  during("ca_stop_rotation", { errors = "> 10" }),
  after("ca_stop_rotation", { recovered_within = "2s" }),
}
