-- wrk script for bench/run.sh: prints one `wrk_stats` line of key=value pairs at the end
-- (latencies in µs, as wrk records them: from when the request was written).
--
-- WRK_DELAY_MS > 0 makes each connection wait that long after every answer before its
-- next request: N connections then send about N / (delay + latency) requests per second,
-- a closed-loop way to hold wrk near a fixed rate (wrk has no rate option).

local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0") or 0

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "wrk_stats rps=%.1f requests=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d errors=%d\n",
    summary.requests / seconds, summary.requests,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
