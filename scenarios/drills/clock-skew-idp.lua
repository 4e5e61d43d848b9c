-- clock-skew-idp (DRILLS.md; seed 002): the IdP's wall clock runs 10 minutes ahead, so the
-- tokens it mints carry iat/nbf in the future. Gateways with a correct clock and a 60 s leeway
-- refuse every fresh token: 401 "token not yet valid". Tokens minted before the skew keep
-- working; tokens minted after the clock is fixed work at once.
--
--   gatedrill drills run clock-skew-idp [--short]

scenario {
  name = "clock-skew-idp",
  description = "IdP clock ahead: fresh tokens are 401 not-yet-valid at every gateway; fixed clock: fresh tokens pass.",
  seeds = { "002" },
}

topology {
  gateways = 1,
  tls = "tls",
  jwt = { leeway = "60s", token_ttl = "5m" },
  upstream = { latency = "200us" },
}

local rate = param("RATE", pick(1000, 400))
local warmup, skewed, fixed = pick(15, 3), pick(20, 4), pick(15, 4)

-- Each phase after the warm-up mints its own tokens when it starts, the way clients fetch new
-- ones: the skewed phase's come from the skewed IdP, the fixed phase's from the corrected one.
load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "skewed", rate = rate, duration = skewed, fresh_tokens = true },
  { name = "fixed", rate = rate, duration = fixed, fresh_tokens = true },
}

-- Half a second before the skewed phase mints its tokens; cleared as the fixed phase begins.
at(warmup - 0.5, function()
  fault.clock_skew { node = "idp", offset = "+10m", duration = skewed + 0.5 }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["skewed.status_401_share"] = "> 95%",
  ["fixed.error_rate"] = "< 1%",
}

expect {
  during("clock_skew", { node = "idp", status_401_share = "> 95%" }),
  after("clock_skew", { node = "idp", recovered_within = "1s" }),
}
