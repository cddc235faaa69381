#!/usr/bin/env bash
# harness against wrk and oha on loopback, in one run; see BENCHMARKS.md.
#
# Usage: bench/run.sh [--quick] [--long] [--rounds K] [--conns N] [--rate R] [--out DIR]
#                     [--only 1,7] [--compare-bin PATH]
#   --quick     1 round, short runs (a smoke test of the script; numbers are rough)
#   --long      also the 10-minute memory run (adds 11 minutes)
#   --rounds K  rounds of the interleaved A B A B comparisons (default 3)
#   --conns N   connections for every tool (default 50)
#   --rate R    the fixed rate of the latency comparison, per second (default 10000)
#   --out DIR   where raw outputs and results.md go (default target/bench/<time>)
#   --only L    run only the numbered sections in the comma-separated list L
#   --compare-bin PATH  another harness binary (e.g. a build of main) whose plain-HTTP
#               throughput is measured in section 1's rounds too, interleaved (A B A B)
#
# Needs: cargo, python3, taskset (optional), /usr/bin/time, and the two tools compared:
#   wrk  (Debian: apt-get install wrk)   oha  (cargo install oha --locked)
# Nothing is installed by this script; a missing tool is named and its rows are skipped.
#
# What it measures, each figure against a minimal hyper server (harness's example
# bench_server), generator pinned to core 0 and server to core 1 when nproc >= 2:
#   1. highest throughput at N connections: harness (open model above capacity,
#      max_in_flight = N), wrk -t1 -cN, oha -cN; interleaved, K rounds, medians;
#   2. latency percentiles at one fixed rate R: harness (open model), oha -q R (with and
#      without --latency-correction), wrk held near R by a per-connection delay;
#   3. a service that stalls 1 s every 5 s, at a fixed rate: harness's p99 against the
#      coordinated-omission-corrected p99 computed from the stall pattern, and what
#      wrk and oha report;
#   4. harness's fault proxy with no faults: p50 at a fixed rate and highest throughput,
#      direct and through the proxy (interleaved), with the proxy on a core of its own
#      (generator and server on core 0) and, for comparison, sharing the server's core;
#   5. recording one outcome (criterion bench `recorder`);
#   6. peak resident memory of a 1-minute run (and, with --long, a 10-minute run);
#   7. highest HTTPS throughput at N connections: harness and oha --cacert against
#      bench_server --tls (a throwaway CA and certificate from the bench_cert example),
#      connections kept alive, interleaved, K rounds, medians.
#   8. execution segments: the highest throughput of one process against two segment
#      processes of the same plan (`--segment 0/2`, `1/2`, one per core, interleaved,
#      K rounds), the time and peak memory of `harness merge` joining them, and the
#      record size per minute of run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0 long=0 rounds=3 conns=50 rate=10000 out="" only="" cbin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; rounds=1 ;;
    --long) long=1 ;;
    --rounds) rounds=$2; shift ;;
    --conns) conns=$2; shift ;;
    --rate) rate=$2; shift ;;
    --out) out=$2; shift ;;
    --only) only=$2; shift ;;
    --compare-bin) cbin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  tput_secs=3; lat_secs=5; stall_secs=10; mem_secs=10
else
  tput_secs=10; lat_secs=10; stall_secs=30; mem_secs=60
fi
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }   # is section $1 to run?
stall_rate=2000       # arrivals per second in the stall test
mem_rate=5000         # arrivals per second in the memory test
proxy_rate=2000       # arrivals per second for the proxy's p50

# ---- what is there -------------------------------------------------------------------
missing=()
have_wrk=1; have_oha=1
command -v wrk >/dev/null || { have_wrk=0; missing+=("wrk: apt-get install wrk"); }
command -v oha >/dev/null || { have_oha=0; missing+=("oha: cargo install oha --locked"); }
command -v python3 >/dev/null || { echo "python3 is needed to read run records" >&2; exit 2; }
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (memory rows): apt-get install time")
for m in "${missing[@]}"; do echo "missing (its rows are skipped): $m" >&2; done

pin_gen=(); pin_srv=(); pinning="none (nproc < 2 or no taskset)"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_gen=(taskset -c 0); pin_srv=(taskset -c 1)
  pinning="generator on core 0, server on core 1 (section 4: two layouts, see there)"
fi

out=${out:-target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
results=$out/results.tsv; : > "$results"
commands=$out/commands.tsv; : > "$commands"
log=$out/log.txt; : > "$log"

echo "building (release): harness and the bench_server example ..." >&2
cargo build --release -q -p harness --bin harness --example bench_server --example bench_cert
H=$root/target/release/harness
SRV=$root/target/release/examples/bench_server
stats=$root/bench/record_stats.py
lua=$root/bench/wrk_stats.lua

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# ---- helpers -------------------------------------------------------------------------
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$results"; }   # name round value
command_of() { printf '%s\t%s\n' "$1" "$2" >> "$commands"; }       # name command

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
tck=$(getconf CLK_TCK)

# start_server VAR ARGS...: starts bench_server on core 1, sets VAR to its URL and
# server_pid to its pid.
start_server() {
  local var=$1; shift
  local file; file=$(mktemp "$out/server.XXXX")
  "${pin_srv[@]}" "$SRV" --addr 127.0.0.1:0 "$@" > "$file" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  for _ in $(seq 100); do [ -s "$file" ] && break; sleep 0.05; done
  printf -v "$var" 'http://%s' "$(head -1 "$file")"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# scenario FILE URL RATE SECS MAX_IN_FLIGHT TIMEOUT WARMUP (TLS_LINE: a path's tls table)
scenario() {
  cat > "$1" <<TOML
name = "bench"
[paths.h]
base_url = "$2"
${TLS_LINE:-}
[load]
model = "open"
rate = $3
duration = "${4}s"
warmup = "${7:-1}s"
timeout = "${6}s"
max_in_flight = $5
[[flow]]
name = "f"
steps = [{ name = "get", path = "/" }]
TOML
}

# harness_run TAG URL RATE SECS MAX_IN_FLIGHT TIMEOUT [WARMUP]: prints record_stats output.
harness_run() {
  local tag=$1 dir="$out/h-$1-$RANDOM"
  scenario "$out/$tag.toml" "$2" "$3" "$4" "$5" "$6" "${7:-1}"
  "${pin_gen[@]}" "${HBIN:-$H}" run "$out/$tag.toml" --quiet --out "$dir" >> "$log" 2>&1 || true
  python3 "$stats" "$dir"/runs/*.json | tee -a "$log"
}
field() { sed -n "s/^\(.* \)\{0,1\}$1=\([^ ]*\).*/\2/p" | head -1; }   # key=value from stdin

wrk_run() { # CONNS SECS URL [DELAY_MS]
  WRK_DELAY_MS=${4:-0} "${pin_gen[@]}" wrk -t1 -c"$1" -d"$2"s -s "$lua" "$3" 2>&1 | tee -a "$log" | grep '^wrk_stats'
}
oha_json_flag=(-j)
if [ "$have_oha" = 1 ] && oha --help 2>/dev/null | grep -q -- '--output-format'; then
  oha_json_flag=(--output-format json)
fi
oha_run() { # CONNS SECS URL [extra oha flags...]
  local c=$1 s=$2 u=$3; shift 3
  "${pin_gen[@]}" oha -c "$c" -z "${s}s" --no-tui "${oha_json_flag[@]}" "$@" "$u" 2>>"$log" \
    | python3 -c '
import json, sys
d = json.load(sys.stdin)
s, p = d["summary"], d["latencyPercentiles"]
us = lambda v: int(round((v or 0) * 1e6))
print("oha_stats rps={:.1f} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} success={}".format(
    s["requestsPerSec"], us(p.get("p50")), us(p.get("p90")), us(p.get("p99")),
    us(p.get("p99.9")), us(s.get("slowest")), s.get("successRate")))' | tee -a "$log"
}

# ---- machine -------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel: $(uname -sr)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pinning: $pinning"
  echo "wrk: $(if command -v wrk >/dev/null; then (wrk -v 2>&1 || true) | head -1; else echo missing; fi)"
  echo "oha: $(if command -v oha >/dev/null; then oha --version 2>&1 | head -1; else echo missing; fi)"
  echo "rustc: $(rustc --version)"
  echo "connections: $conns, rounds: $rounds, fixed rate: $rate/s"
  if [ -n "$only" ]; then echo "sections: $only"; fi
  if [ -n "$cbin" ]; then echo "compared build (section 1): $cbin"; fi
} | tee "$out/machine.txt" >&2

# ---- 1. highest throughput at N connections ---------------------------------------------
start_server url
# Offered rate of harness's max-throughput runs: above what one core can do here.
offer=${HARNESS_OFFER:-200000}
if want 1; then
echo "## 1. highest throughput, $conns connections, ${tput_secs}s per run, $rounds round(s)" >&2
command_of tput.harness "harness run (open, rate = $offer, max_in_flight = $conns, ${tput_secs}s) → achieved_rate"
command_of tput.wrk "wrk -t1 -c$conns -d${tput_secs}s URL"
command_of tput.oha "oha -c $conns -z ${tput_secs}s --no-tui ${oha_json_flag[*]} URL"
for r in $(seq "$rounds"); do
  t0=$(cpu_ticks "$server_pid"); w0=$(date +%s.%N)
  v=$(harness_run tput "$url" "$offer" "$tput_secs" "$conns" 2 | field achieved)
  result tput.harness "$r" "$v"
  t1=$(cpu_ticks "$server_pid"); w1=$(date +%s.%N)
  result tput.harness.server_cpu "$r" "$(echo "($t1-$t0)/$tck/($w1-$w0)" | bc -l)"
  if [ -n "$cbin" ]; then
    result tput.compared "$r" "$(HBIN=$cbin harness_run tputc "$url" "$offer" "$tput_secs" "$conns" 2 | field achieved)"
  fi
  if [ "$have_wrk" = 1 ]; then
    t0=$(cpu_ticks "$server_pid"); w0=$(date +%s.%N)
    result tput.wrk "$r" "$(wrk_run "$conns" "$tput_secs" "$url" | field rps)"
    t1=$(cpu_ticks "$server_pid"); w1=$(date +%s.%N)
    result tput.wrk.server_cpu "$r" "$(echo "($t1-$t0)/$tck/($w1-$w0)" | bc -l)"
  fi
  if [ "$have_oha" = 1 ]; then
    t0=$(cpu_ticks "$server_pid"); w0=$(date +%s.%N)
    result tput.oha "$r" "$(oha_run "$conns" "$tput_secs" "$url" | field rps)"
    t1=$(cpu_ticks "$server_pid"); w1=$(date +%s.%N)
    result tput.oha.server_cpu "$r" "$(echo "($t1-$t0)/$tck/($w1-$w0)" | bc -l)"
  fi
done
fi
if [ -n "$cbin" ]; then command_of tput.compared "the same harness run with $cbin"; fi

# ---- 7. HTTPS throughput at N connections ------------------------------------------------
if want 7; then
echo "## 7. highest HTTPS throughput, $conns connections, ${tput_secs}s per run, $rounds round(s)" >&2
"$root/target/release/examples/bench_cert" "$out/tls"
main_server_pid=$server_pid
start_server turl --tls "$out/tls/cert.pem" "$out/tls/key.pem"
turl=${turl/http:/https:}
tls_server_pid=$server_pid
command_of https.harness "harness run (open, rate = $offer, max_in_flight = $conns, ${tput_secs}s, tls = { ca_file }) → achieved_rate, against bench_server --tls"
command_of https.oha "oha -c $conns -z ${tput_secs}s --no-tui --cacert ca.pem URL"
for r in $(seq "$rounds"); do
  result https.harness "$r" "$(TLS_LINE="tls = { ca_file = \"$out/tls/ca.pem\" }" harness_run https "$turl" "$offer" "$tput_secs" "$conns" 2 | field achieved)"
  if [ "$have_oha" = 1 ]; then
    result https.oha "$r" "$(oha_run "$conns" "$tput_secs" "$turl" --cacert "$out/tls/ca.pem" | field rps)"
  fi
done
stop_pid "$tls_server_pid"
server_pid=$main_server_pid
fi

# ---- 2. latency at a fixed rate --------------------------------------------------------
if want 2; then
echo "## 2. latency at $rate/s, ${lat_secs}s per run, $rounds round(s)" >&2
delay_ms=$(( conns * 1000 / rate ))
command_of lat.harness "harness run (open, rate = $rate, max_in_flight = $conns, ${lat_secs}s)"
command_of lat.oha "oha -c $conns -q $rate -z ${lat_secs}s --no-tui URL"
command_of lat.oha_corrected "oha -c $conns -q $rate --latency-correction -z ${lat_secs}s --no-tui URL"
command_of lat.wrk "WRK_DELAY_MS=$delay_ms wrk -t1 -c$conns -d${lat_secs}s -s bench/wrk_stats.lua URL"
for r in $(seq "$rounds"); do
  line=$(harness_run lat "$url" "$rate" "$lat_secs" "$conns" 2)
  for k in achieved p50_us p90_us p99_us p999_us; do result "lat.harness.$k" "$r" "$(echo "$line" | field $k)"; done
  if [ "$have_oha" = 1 ]; then
    line=$(oha_run "$conns" "$lat_secs" "$url" -q "$rate")
    for k in rps p50_us p90_us p99_us p999_us; do result "lat.oha.$k" "$r" "$(echo "$line" | field $k)"; done
    line=$(oha_run "$conns" "$lat_secs" "$url" -q "$rate" --latency-correction)
    for k in rps p50_us p90_us p99_us p999_us; do result "lat.oha_corrected.$k" "$r" "$(echo "$line" | field $k)"; done
  fi
  if [ "$have_wrk" = 1 ] && [ "$delay_ms" -ge 1 ]; then
    line=$(wrk_run "$conns" "$lat_secs" "$url" "$delay_ms")
    for k in rps p50_us p90_us p99_us p999_us; do result "lat.wrk.$k" "$r" "$(echo "$line" | field $k)"; done
  fi
done
fi

# ---- 4. the fault proxy with no faults --------------------------------------------------
# Two layouts, each the fair one for one figure (BENCHMARKS.md, "Method"):
#  - own core: generator and server on core 0, the proxy alone on core 1. Direct and
#    proxied, the generator and the server get the same CPU, and the proxy has a core as
#    it would beside a real service: the layout for throughput. Its p50 is shown too, but
#    there a proxied request crosses cores four times and a direct one never.
#  - shared: generator on core 0, server and proxy on core 1 (the other sections'
#    layout). Direct and proxied, a request crosses cores twice, so the p50 difference
#    is the proxy's own work: the layout for latency. Its throughput is shown too, the
#    proxy and the server competing for one core.
# The proxy's CPU time per forwarded request is read from /proc in the own-core runs.
if want 4; then
echo "## 4. fault proxy without faults: p50 at $proxy_rate/s and highest throughput" >&2
start_proxy() { # UPSTREAM PIN... → sets proxy_pid and purl
  local up=$1; shift
  cat > "$out/proxy.toml" <<TOML
name = "bench"
mode = "http"
listen = "127.0.0.1:0"
upstream = "$up"
control = "127.0.0.1:0"
TOML
  : > "$out/proxy.out"
  "$@" "$H" proxy --config "$out/proxy.toml" > "$out/proxy.out" 2>&1 &
  proxy_pid=$!; pids+=("$proxy_pid")
  for _ in $(seq 100); do grep -q '^proxy:' "$out/proxy.out" 2>/dev/null && break; sleep 0.05; done
  purl=$(awk '/^proxy:/ {print $2}' "$out/proxy.out")
}
own_core=()
if [ "${#pin_gen[@]}" -gt 0 ]; then own_core=(taskset -c 1); fi
# A server on the generator's core (when pinning), for the own-core layout.
pin_srv_saved=("${pin_srv[@]}")
pin_srv=("${pin_gen[@]}")
start_server url0
server0_pid=$server_pid
pin_srv=("${pin_srv_saved[@]}")
start_proxy "$url0" "${own_core[@]}"
command_of proxy.own "harness run (open, max_in_flight = $conns; rate = $proxy_rate, ${lat_secs}s → p50; rate = $offer, ${tput_secs}s → achieved_rate), direct and through harness proxy --config proxy.toml; generator and server on core 0, the proxy alone on core 1"
command_of proxy.shared "the same, generator on core 0, server and proxy on core 1"
for r in $(seq "$rounds"); do
  result proxy.own.direct.p50_us "$r" "$(harness_run pd "$url0" "$proxy_rate" "$lat_secs" "$conns" 2 | field p50_us)"
  result proxy.own.proxied.p50_us "$r" "$(harness_run pp "$purl" "$proxy_rate" "$lat_secs" "$conns" 2 | field p50_us)"
  result proxy.own.direct.tput "$r" "$(harness_run td "$url0" "$offer" "$tput_secs" "$conns" 2 | field achieved)"
  before=$(cpu_ticks "$proxy_pid")
  line=$(harness_run tp "$purl" "$offer" "$tput_secs" "$conns" 2)
  after=$(cpu_ticks "$proxy_pid")
  result proxy.own.proxied.tput "$r" "$(echo "$line" | field achieved)"
  result proxy.own.proxied.sent "$r" "$(echo "$line" | field sent)"
  result proxy.cpu_s "$r" "$(python3 -c "print(($after - $before) / $tck)")"
done
stop_pid "$proxy_pid"
stop_pid "$server0_pid"
start_proxy "$url" "${pin_srv[@]}"
for r in $(seq "$rounds"); do
  result proxy.shared.direct.p50_us "$r" "$(harness_run sdl "$url" "$proxy_rate" "$lat_secs" "$conns" 2 | field p50_us)"
  result proxy.shared.proxied.p50_us "$r" "$(harness_run spl "$purl" "$proxy_rate" "$lat_secs" "$conns" 2 | field p50_us)"
  result proxy.shared.direct.tput "$r" "$(harness_run sd "$url" "$offer" "$tput_secs" "$conns" 2 | field achieved)"
  result proxy.shared.proxied.tput "$r" "$(harness_run sp "$purl" "$offer" "$tput_secs" "$conns" 2 | field achieved)"
done
stop_pid "$proxy_pid"
fi

# ---- 6. memory ---------------------------------------------------------------------------
peak_rss() { # SECS → kB
  scenario "$out/mem.toml" "$url" "$mem_rate" "$1" 1000 2 1
  "${pin_gen[@]}" /usr/bin/time -f "peak_rss_kb=%M" "$H" run "$out/mem.toml" --quiet --out "$out/mem-$1" 2>&1 >/dev/null \
    | tee -a "$log" | field peak_rss_kb
}
if [ -x /usr/bin/time ] && want 6; then
  echo "## 6. peak resident memory at $mem_rate/s: ${mem_secs}s$([ "$long" = 1 ] && echo ' and 600s')" >&2
  command_of mem.short "/usr/bin/time -f %M harness run (open, rate = $mem_rate, ${mem_secs}s)"
  result mem.short 1 "$(peak_rss "$mem_secs")"
  if [ "$long" = 1 ]; then
    command_of mem.long "/usr/bin/time -f %M harness run (open, rate = $mem_rate, 600s)"
    result mem.long 1 "$(peak_rss 600)"
  fi
fi
stop_pid "$server_pid"

# ---- 3. the stalling service -----------------------------------------------------------
if want 3; then
echo "## 3. a service that stalls 1 s every 5 s, $stall_rate/s for ${stall_secs}s" >&2
start_server surl --stall-every 5s --stall-for 1s
command_of stall.harness "harness run (open, rate = $stall_rate, max_in_flight = 5000, timeout 5s, ${stall_secs}s) against bench_server --stall-every 5s --stall-for 1s"
command_of stall.wrk "wrk -t1 -c$conns -d${stall_secs}s URL (closed loop, full speed)"
command_of stall.wrk_paced "WRK_DELAY_MS=$(( conns * 1000 / stall_rate )) wrk -t1 -c$conns -d${stall_secs}s URL (closed loop, near $stall_rate/s)"
command_of stall.oha "oha -c $conns -q $stall_rate -z ${stall_secs}s --no-tui URL"
command_of stall.oha_corrected "oha -c $conns -q $stall_rate --latency-correction -z ${stall_secs}s --no-tui URL"
line=$(harness_run stall "$surl" "$stall_rate" "$stall_secs" 5000 5 1)
for k in achieved p50_us p90_us p99_us p999_us; do result "stall.harness.$k" 1 "$(echo "$line" | field $k)"; done
if [ "$have_wrk" = 1 ]; then
  line=$(wrk_run "$conns" "$stall_secs" "$surl")
  for k in rps p50_us p90_us p99_us; do result "stall.wrk.$k" 1 "$(echo "$line" | field $k)"; done
  line=$(wrk_run "$conns" "$stall_secs" "$surl" $(( conns * 1000 / stall_rate )))
  for k in rps p50_us p90_us p99_us; do result "stall.wrk_paced.$k" 1 "$(echo "$line" | field $k)"; done
fi
if [ "$have_oha" = 1 ]; then
  line=$(oha_run "$conns" "$stall_secs" "$surl" -q "$stall_rate")
  for k in rps p50_us p90_us p99_us; do result "stall.oha.$k" 1 "$(echo "$line" | field $k)"; done
  line=$(oha_run "$conns" "$stall_secs" "$surl" -q "$stall_rate" --latency-correction)
  for k in rps p50_us p90_us p99_us; do result "stall.oha_corrected.$k" 1 "$(echo "$line" | field $k)"; done
fi
stop_pid "$server_pid"
fi

# ---- 5. recording one outcome ----------------------------------------------------------
if want 5; then
echo "## 5. recording one outcome (criterion)" >&2
command_of rec "cargo bench -p harness --bench recorder -- record_one_outcome"
cargo bench -q -p harness --bench recorder -- record_one_outcome --warm-up-time 1 --measurement-time 3 \
  > "$out/criterion.txt" 2>&1 || true
python3 - "$out/criterion.txt" "$results" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
scale = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
with open(sys.argv[2], "a") as out:
    for name, mid, unit in re.findall(r"record_one_outcome/(\w+)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", text):
        out.write(f"rec.{name}\t1\t{float(mid) * scale[unit]:.2f}\n")
PY
fi

# ---- 8. execution segments ---------------------------------------------------------------
if want 8; then
echo "## 8. one process against two segments (one per core), ${tput_secs}s per run, $rounds round(s)" >&2
scenario "$out/seg.toml" "$url" "$offer" "$tput_secs" "$conns" 2 1
command_of seg.one "harness run (open, rate = $offer, max_in_flight = $conns, ${tput_secs}s) on core 0 → achieved_rate"
command_of seg.two "harness run --segment 0/2 (core 0) and --segment 1/2 (core 1) at once, --start-at 2 s ahead, max_in_flight = $conns each → summed achieved_rate"
command_of seg.merge "/usr/bin/time -f '%e s %M KiB' harness merge --out DIR SEG0 SEG1"
for r in $(seq "$rounds"); do
  dir="$out/seg-one-$r"
  "${pin_gen[@]}" "$H" run "$out/seg.toml" --quiet --out "$dir" >> "$log" 2>&1 || true
  result seg.one "$r" "$(python3 "$stats" "$dir"/runs/*.json | field achieved)"
  start=$(date -u -d "+2 sec" +%Y-%m-%dT%H:%M:%SZ)
  seg_pids=()
  for i in 0 1; do
    core=(); if [ "${#pin_gen[@]}" -gt 0 ]; then core=(taskset -c "$i"); fi
    "${core[@]}" "$H" run "$out/seg.toml" --quiet --segment "$i/2" --start-at "$start" \
      --out "$out/seg-two-$r-$i" >> "$log" 2>&1 &
    seg_pids+=("$!")
  done
  for p in "${seg_pids[@]}"; do wait "$p" || true; done
  two=0
  for i in 0 1; do
    a=$(python3 "$stats" "$out/seg-two-$r-$i"/runs/*.json | field achieved)
    two=$(echo "$two + ${a:-0}" | bc -l)
  done
  result seg.two "$r" "$two"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '%e %M' -o "$out/merge-time-$r" "$H" merge --out "$out/seg-merged-$r" \
      "$out/seg-two-$r-0" "$out/seg-two-$r-1" >> "$log" 2>&1 || true
    result seg.merge_s "$r" "$(cut -d' ' -f1 "$out/merge-time-$r")"
    result seg.merge_kib "$r" "$(cut -d' ' -f2 "$out/merge-time-$r")"
  fi
  bytes=$(stat -c %s "$out/seg-two-$r-0"/runs/*.json | head -1)
  result seg.record_kib_per_min "$r" "$(echo "$bytes / 1024 * 60 / ($tput_secs + 1)" | bc -l)"
done
fi

# ---- the table ---------------------------------------------------------------------------
python3 - "$results" "$commands" "$stall_rate" "$long" "$tput_secs" > "$out/results.md" <<'PY'
import statistics, sys
from collections import defaultdict
vals = defaultdict(list)
for line in open(sys.argv[1]):
    name, _round, value = line.rstrip("\n").split("\t")
    try:
        vals[name].append(float(value))
    except ValueError:
        pass
cmds = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]))
stall_rate, long_run = float(sys.argv[3]), sys.argv[4] == "1"
tput_secs = float(sys.argv[5])
med = lambda k: statistics.median(vals[k]) if vals.get(k) else None
def fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:.2f}{unit}"
rows = []
def row(figure, value, target, ratio, met, cmd):
    rows.append((figure, value, target, ratio, met, cmd))
def spread(k):
    v = vals.get(k) or []
    return f" (runs: {', '.join(fmt(x) for x in v)})" if len(v) > 1 else ""
yes = lambda ok: "-" if ok is None else ("yes" if ok else "**no**")

h, w, o = med("tput.harness"), med("tput.wrk"), med("tput.oha")
row("throughput harness, req/s", fmt(h) + spread("tput.harness"), "", "", "", cmds.get("tput.harness", ""))
row("throughput wrk, req/s", fmt(w) + spread("tput.wrk"), "", "", "", cmds.get("tput.wrk", ""))
row("throughput oha, req/s", fmt(o) + spread("tput.oha"), "", "", "", cmds.get("tput.oha", ""))
for tool, ref, target in (("oha", o, 1.0), ("wrk", w, 0.7)):
    r = h / ref if h and ref else None
    row(f"harness / {tool} throughput", "", f"≥ {target}×", fmt(r, "×") if r else "-",
        yes(None if r is None else r >= target), "same run, medians")
c = med("tput.compared")
if c and h:
    row("throughput harness, compared build, req/s", fmt(c) + spread("tput.compared"), "", "", "", cmds.get("tput.compared", ""))
    row("harness / compared build throughput", "", "≥ 0.97× (no regression)", fmt(h / c, "×"), yes(h / c >= 0.97), "same rounds, interleaved, medians")
hs, os_ = med("https.harness"), med("https.oha")
if hs:
    row("HTTPS throughput harness, req/s", fmt(hs) + spread("https.harness"), "", "", "", cmds.get("https.harness", ""))
if os_:
    row("HTTPS throughput oha, req/s", fmt(os_) + spread("https.oha"), "", "", "", cmds.get("https.oha", ""))
if hs and os_:
    row("harness / oha HTTPS throughput", "", "≥ 1.0×", fmt(hs / os_, "×"), yes(hs / os_ >= 1.0), "same rounds, interleaved, medians")
for tool in ("harness", "wrk", "oha"):
    c = med(f"tput.{tool}.server_cpu")
    if c is not None:
        row(f"server CPU during {tool} throughput runs", f"{c * 100:.0f}% of a core", "", "", "", "/proc/PID/stat")
for tool, label in (("harness", "harness"), ("oha", "oha -q"), ("oha_corrected", "oha -q --latency-correction"), ("wrk", "wrk, paced by delay()")):
    rate_key = "achieved" if tool == "harness" else "rps"
    if vals.get(f"lat.{tool}.p50_us"):
        row(f"fixed rate: {label} (achieved {fmt(med(f'lat.{tool}.{rate_key}'))}/s) p50 / p90 / p99 / p99.9 µs",
            " / ".join(fmt(med(f"lat.{tool}.{q}")) for q in ("p50_us", "p90_us", "p99_us", "p999_us")),
            "", "", "", cmds.get(f"lat.{tool}", ""))
# Stall: S = 1 s every P = 5 s; fraction S/P of arrivals wait (S - t), t uniform in [0, S):
# P(L > x) = (S/P)(1 - x/S) → p_q = S - (1 - q) P.
S, P = 1.0, 5.0
for q, label in ((0.90, "p90"), (0.99, "p99")):
    expect_us = (S - (1 - q) * P) * 1e6
    got = med(f"stall.harness.{label}_us")
    r = got / expect_us if got else None
    row(f"stall: harness {label} vs corrected {fmt(expect_us / 1e3)} ms",
        fmt(got / 1e3 if got else None, " ms"), "within 10%" if label == "p99" else "(info)",
        fmt(r, "×") if r else "-",
        yes(None if r is None else abs(r - 1) <= 0.10) if label == "p99" else "",
        cmds.get("stall.harness", ""))
for tool in ("wrk", "wrk_paced", "oha", "oha_corrected"):
    p99 = med(f"stall.{tool}.p99_us")
    if p99 is not None:
        row(f"stall: {tool} p99 (achieved {fmt(med(f'stall.{tool}.rps'))}/s)", fmt(p99 / 1e3, " ms"),
            "(what it reports)", fmt(p99 / 0.95e6, "×"), "", cmds.get(f"stall.{tool}", ""))
for layout, label, lat_target, tput_target in (
        ("shared", "proxy sharing the server's core", True, False),
        ("own", "proxy on a core of its own", False, True)):
    d50, p50 = med(f"proxy.{layout}.direct.p50_us"), med(f"proxy.{layout}.proxied.p50_us")
    cmd = cmds.get(f"proxy.{layout}", "")
    if d50 is not None and p50 is not None:
        row(f"{label}: p50 direct / proxied, µs", f"{fmt(d50)} / {fmt(p50)}" + spread(f"proxy.{layout}.proxied.p50_us"), "", "", "", cmd)
        row(f"{label}: added p50, µs", fmt(p50 - d50), "≤ 50 µs" if lat_target else "(info)", "",
            yes(p50 - d50 <= 50) if lat_target else "", "same run, medians")
    dt, pt = med(f"proxy.{layout}.direct.tput"), med(f"proxy.{layout}.proxied.tput")
    if dt and pt:
        row(f"{label}: throughput direct / proxied, req/s", f"{fmt(dt)} / {fmt(pt)}", "", "", "", cmd)
        row(f"{label}: proxied / direct throughput", "", "≥ 0.7×" if tput_target else "(info)", fmt(pt / dt, "×"),
            yes(pt / dt >= 0.7) if tput_target else "", "same run, medians")
cpu, sent = med("proxy.cpu_s"), med("proxy.own.proxied.sent")
if cpu and sent:
    # The CPU time covers the 1-s warmup too; `sent` counts the measured window only.
    us = cpu * 1e6 / (sent * (tput_secs + 1) / tput_secs)
    row("proxy: CPU per forwarded request", fmt(us, " µs"), "", "", "",
        f"/proc/PID/stat utime+stime of harness proxy during the own-core throughput runs / requests (warmup included); {fmt(1e6 / us)} req/s per core")
for name in ("recorder", "shared_recorder"):
    v = med(f"rec.{name}")
    if v is not None:
        row(f"record one outcome ({name})", fmt(v, " ns"), "≤ 100 ns", "", yes(v <= 100), cmds.get("rec", ""))
one, two = med("seg.one"), med("seg.two")
if one and two:
    row("one process, req/s", fmt(one) + spread("seg.one"), "", "", "", cmds.get("seg.one", ""))
    row("two segments (one per core), summed req/s", fmt(two) + spread("seg.two"), "", "", "", cmds.get("seg.two", ""))
    row("two segments / one process throughput", "", "(info: the server shares these cores)", fmt(two / one, "×"), "", "same rounds, medians")
mt, mk, rk = med("seg.merge_s"), med("seg.merge_kib"), med("seg.record_kib_per_min")
if mt is not None:
    row("merge two segments: time / peak RSS", f"{fmt(mt, ' s')} / {fmt(mk / 1024 if mk else None, ' MiB')}", "", "", "", cmds.get("seg.merge", ""))
if rk is not None:
    row("a segment's record, KiB per minute of run (no faults)", fmt(rk), "", "", "", "stat -c %s runs/*.json")
ms, ml = med("mem.short"), med("mem.long")
if ms is not None:
    row("peak RSS, short run", fmt(ms / 1024, " MiB"), "", "", "", cmds.get("mem.short", ""))
if ml is not None:
    row("peak RSS, 10-minute run", fmt(ml / 1024, " MiB"), "≤ 1.2× short", fmt(ml / ms, "×"), yes(ml / ms <= 1.2), cmds.get("mem.long", ""))
elif not long_run:
    row("peak RSS, 10-minute run", "not run (use --long)", "≤ 1.2× short", "", "", "")
print("| figure | value | target | ratio | met? | command |")
print("|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
PY
echo >&2
cat "$out/machine.txt"
echo
cat "$out/results.md"
echo
echo "raw outputs: $out" >&2
