-- sidecar-oom (DRILLS.md; seeds 001, 002, 003): the gateway runs under a memory limit (cgroup
-- memory limit, else RLIMIT_AS) with a memory budget below it, and a leak (the gateway's
-- ballast fault) grows its memory. The overload manager sheds first (503 "overloaded" past 95%
-- of the budget); past the limit the kernel kills it (exit 137, recorded as an event). The
-- upstream stays healthy but unreachable. The supervisor restarts the gateway with backoff and
-- traffic recovers; the time to recover is measured.
--
--   gatedrill drills run sidecar-oom [--short]

scenario {
  name = "sidecar-oom",
  description = "Gateway leaks memory under a limit: 503 overloaded, then OOM kill (137); restarted by the supervisor.",
  seeds = { "001", "002", "003" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
  -- Keep-alive off at 80%, 503 at 95% of the budget.
  gateway = { memory_budget = param("BUDGET", "64MiB") },
}

local rate = param("RATE", pick(1000, 400))
local warmup, leaking, release, recover = pick(15, 3), pick(20, 5), pick(2, 1), pick(20, 4)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "leaking", rate = rate, duration = leaking },
  -- The ballast is freed (or the restarted node takes over); the overload manager notices.
  { name = "release", rate = rate, duration = release },
  { name = "recover", rate = rate, duration = recover },
}

at(warmup - 0.5, function()
  -- auto: a cgroup memory limit where the machine allows one, else RLIMIT_AS (-e MECHANISM=rlimit).
  fault.memory_limit { node = "gw-1", limit = param("LIMIT", "160MiB"), mechanism = param("MECHANISM", "auto"),
                       duration = leaking + 0.5 }
end)
at(warmup, function()
  -- Grows past the budget in about a second, past the limit in about two.
  fault.ballast { node = "gw-1", size = "256MiB", ramp = pick("6s", "3s"), duration = leaking }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  ["recover.error_rate"] = "< 1%",
}

expect {
  -- Shed (503) and then unreachable (connection errors while it restarts).
  during("ballast", { node = "gw-1", error_rate = "> 5%", status_503 = "> 0" }),
  after("ballast", { node = "gw-1", recovered_within = "3s" }),
}
