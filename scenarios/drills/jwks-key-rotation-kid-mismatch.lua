-- jwks-key-rotation-kid-mismatch (DRILLS.md; seed 001): the IdP starts signing with a new key
-- before publishing it in its JWKS. Every token it mints now names a kid the gateways cannot
-- find; they refetch the JWKS on an unknown kid (at most once per cooldown), still do not find
-- it, and answer 401 "unknown kid". Publishing the key fixes it automatically: the next
-- refetch after the cooldown finds the kid and the same tokens pass.
--
--   gatedrill drills run jwks-key-rotation-kid-mismatch [--short]

scenario {
  name = "jwks-key-rotation-kid-mismatch",
  description = "IdP signs with an unpublished kid: 401 unknown kid until the key is published and refetched.",
  seeds = { "001" },
}

local cooldown = param("COOLDOWN", "1s")

topology {
  gateways = 2,
  tls = "tls",
  jwt = { token_ttl = "5m" },
  upstream = { latency = "200us" },
  -- JWKS refresh far away, unknown-kid refetch at most once per cooldown.
  gateway = { jwks_ttl = "300s", jwks_cooldown = cooldown },
}

local rate = param("RATE", pick(1000, 400))
local warmup, mismatch, published, steady = pick(15, 3), pick(20, 4), pick(5, 2), pick(15, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  -- Tokens minted after the rotation: signed by the new, unpublished key. The same tokens are
  -- sent on after the key is published (no fresh_tokens on the last phase).
  { name = "mismatch", rate = rate, duration = mismatch, fresh_tokens = true },
  { name = "published", rate = rate, duration = published },
  { name = "steady", rate = rate, duration = steady },
}

at(warmup - 0.5, function()
  fault.jwks_rotate { mode = "sign_first", duration = mismatch + 0.5 }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["mismatch.status_401_share"] = "> 95%",
  -- The "published" phase holds the refetch blip; after it, nothing fails.
  ["steady.error_rate"] = "< 1%",
}

expect {
  during("jwks_rotate", { status_401_share = "> 95%" }),
  -- Automatic: within the refetch cooldown (plus a second of measurement granularity).
  after("jwks_rotate", { recovered_within = "2s" }),
}
