-- sidecar-cpu-starvation (DRILLS.md; seeds 000, 001): the gateway gets a CPU quota below what
-- its bursts need (cgroup cpu.max / cpu.cfs_quota_us, or where cgroups are not available a
-- SIGSTOP/SIGCONT duty cycle that throttles the same way). Requests that land while it is
-- throttled wait for the next period: the tail (p99, p999) rises by multiples while the median
-- moves little, and nothing fails at first. The fault window's event records the mechanism.
--
--   gatedrill drills run sidecar-cpu-starvation [--short]

scenario {
  name = "sidecar-cpu-starvation",
  description = "Gateway CPU quota: p99/p999 rise by multiples, p50 moves little, no errors; quota lifted: p99 back.",
  seeds = { "000", "001" },
}

topology {
  gateways = 1,
  tls = "tls",
  upstream = { latency = "200us" },
}

local rate = param("RATE", pick(300, 200))
-- Below what the gateway needs at this rate (a few % of a core at 200 requests/s), so its
-- bursts are throttled.
local share = param("SHARE", "3%")
-- auto: a cgroup CPU quota where the machine allows one, else the SIGSTOP/SIGCONT duty cycle
-- (force either with -e MECHANISM=cgroup|duty_cycle; the fault's event records which ran).
local mechanism = param("MECHANISM", "auto")
local warmup, starved, settle, lifted = pick(15, 4), pick(30, 5), pick(3, 2), pick(15, 3)

load {
  { name = "warmup", rate = rate, duration = warmup },
  { name = "starved", rate = rate, duration = starved },
  -- The backlog of the starved phase drains here.
  { name = "settle", rate = rate, duration = settle },
  { name = "lifted", rate = rate, duration = lifted },
}

at(warmup, function()
  fault.cpu_starve { node = "gw-1", share = share, period = "100ms", mechanism = mechanism, duration = starved }
end)

thresholds {
  ["warmup.error_rate"] = "< 1%",
  -- Throttled, not broken: the requests still succeed.
  ["starved.error_rate"] = "< 1%",
  -- Quota lifted (and the backlog drained): the tail is back to tens of milliseconds at most.
  ["lifted.p99"] = "< 50ms",
}

expect {
  -- The tail waits out throttled periods: tens of ms, several times the warm-up's. (The
  -- median moves too on a busy machine, so it is reported, not asserted.)
  during("cpu_starve", { node = "gw-1", p99 = "> 30ms", p999 = "> 40ms", p99_vs_baseline = "> 3" }),
  after("cpu_starve", { node = "gw-1", recovered_within = "1s" }),
}
