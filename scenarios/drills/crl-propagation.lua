-- crl-propagation (DRILLS.md; seed 000): the load's client SVID is revoked. The new CRL reaches
-- gw-1 at once and gw-2 only after a delay: while it is late, the revoked client is still
-- admitted on gw-2 and refused on gw-1 (alert certificate_revoked). Once the CRL has propagated
-- it is refused everywhere: that is the recovery here (the revocation takes effect on every
-- node), asserted on the last phase.
--
-- Before that, the CA's CRL publication goes stale: for a few seconds it publishes CRLs whose
-- nextUpdate has passed (ca_expired_crl). The gateways check the client's CRL on every
-- handshake and fail closed on an expired one ("CRL has expired"): every client is refused on
-- every node, revoked or not. A fresh CRL again: admitted again.
--
--   gatedrill run scenarios/drills/crl-propagation.lua [-e SHORT=1]

scenario {
  name = "crl-propagation",
  description = "Expired CRL: everyone refused; then client SVID revoked, CRL delayed to gw-2: refused on gw-1, admitted on gw-2; propagated: refused on both.",
  seeds = { "000" },
}

topology {
  gateways = 2,
  tls = "mtls",
  pki = { requests_per_connection = 20 },
}

local rate = param("RATE", pick(1000, 400))
local warmup, late, refused = pick(15, 3), pick(30, 4), pick(15, 3)
local stale, fresh = pick(10, 3), pick(10, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "stale", rate = rate, duration = stale },
  { name = "fresh", rate = rate, duration = fresh },
  { name = "late", rate = rate, duration = late },
  -- The CRL reaches gw-2 (agent poll + reload) and its last admitted connections drain.
  { name = "propagating", rate = rate, duration = 1 },
  { name = "refused", rate = rate, duration = refused },
}

at(warmup, function()
  fault.ca_expired_crl { duration = stale }
end)
at(warmup + stale + fresh, function()
  fault.crl_revoke { nodes = { "gw-2" }, mode = "delay", duration = late }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["fresh.error_rate"] = "< 5%",
  -- After propagation the revoked client is refused everywhere.
  ["refused.error_rate{node=gw-2}"] = "> 90%",
  ["refused.error_rate{node=gw-1}"] = "> 90%",
}

expect {
  -- An expired CRL fails closed on every node, and a fresh one admits the client again.
  during("ca_expired_crl", { error_rate = "> 90%", node_error_share = "> 90%" }),
  after("ca_expired_crl", { recovered_within = "2s" }),
  during("crl_revoke", { node = "gw-1", error_rate = "> 90%" }),
  during("crl_revoke", { node = "gw-2", error_rate = "< 5%" }),
  during("crl_revoke", { node_split = "> 40%" }),
}
