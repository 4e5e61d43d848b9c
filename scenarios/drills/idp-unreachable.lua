-- idp-unreachable (DRILLS.md; seeds 000, 002): the IdP is down (token endpoint, discovery and
-- JWKS all answer 503). Clients cannot mint new tokens, but tokens already issued stay valid
-- until they expire, and the gateway keeps its last good key set even though it tries to
-- refresh it every second (jwks_ttl = 1s): the traffic carrying cached tokens must not notice.
-- A gateway that dropped its keys on a failed refresh fails this drill with 401s.
--
-- The client side: a token client mints through the IdP's token endpoint (client_credentials)
-- all along, as clients refreshing their tokens do (the stream token@idp). While the IdP is down
-- every mint fails; once it is back, minting works again at once.
--
--   gatedrill drills run idp-unreachable [--short]

scenario {
  name = "idp-unreachable",
  description = "IdP down: new tokens cannot be minted (token@idp fails); cached valid tokens keep working on the last good keys; back: minting again.",
  seeds = { "000", "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  jwt = { token_ttl = "10m" },
  upstream = { latency = "200us" },
  -- Refresh often, so several refreshes fail during the outage.
  gateway = { jwks_ttl = "1s" },
  -- Token refreshes per second through the token endpoint, the whole run.
  token_client = 20,
}

local rate = param("RATE", pick(1000, 400))
local warmup, outage, recover = pick(10, 3), pick(40, 5), pick(10, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "outage", rate = rate, duration = outage },
  { name = "recover", rate = rate, duration = recover },
}

at(warmup, function()
  fault.idp_down { node = "idp", duration = outage }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["warmup.error_rate{node=token@idp}"] = "< 1%",
  ["outage.p99"] = "< 100ms",
  ["recover.error_rate"] = "< 1%",
}

expect {
  -- The symptom on the client side: new tokens cannot be minted while it is down ...
  during("idp_down", { node = "token@idp", error_rate = "> 90%" }),
  -- ... and minting works again once it is back.
  after("idp_down", { node = "token@idp", recovered_within = "1s" }),
  -- For the clients holding tokens the seeds describe no symptom: cached tokens work, and
  -- still nothing is refused (every JWKS refresh of the gateway fails meanwhile).
  during("idp_down", { error_rate = "< 1%", status_401_share = "< 0.1%" }),
  after("idp_down", { recovered_within = "1s" }),
}
