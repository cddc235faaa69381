#!/usr/bin/env bash
# Measures the open-model driver on loopback, on this machine:
#   1. the highest arrival rate it sustains (achieved = target, nothing dropped) against a
#      trivial endpoint (GET /healthz) and the reference platform's workflow API (POST
#      /api/workflows/execute, Dagger path, instant executor), with the generator pinned
#      to core 0 and the server, in its own process, to core 1;
#   2. the p50 error against a known fixed service time (20, 50, 100 ms);
#   3. peak resident memory of a 60 s run against a 6 s run at the same rate.
# Usage: bench/open-model.sh        Prints the summary rows `harness run` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p harness
H=$PWD/target/release/harness
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

pin_gen=(); pin_srv=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_gen=(taskset -c 0); pin_srv=(taskset -c 1); fi

cat > "$work/ref.toml" <<TOML
name = "ref"
[paths.legacy]
target = "reference"
[load]
model = "open"
rate = 1
duration = "1s"
[[flow]]
name = "f"
steps = [{ name = "s", path = "/healthz" }]
[reference]
executor_latency = "0ms"
executor_jitter = "0ms"
TOML
"${pin_srv[@]}" "$H" reference serve --scenario "$work/ref.toml" > "$work/ref.out" 2>&1 &
for _ in $(seq 50); do grep -q '^reference platform:' "$work/ref.out" 2>/dev/null && break; sleep 0.1; done
url=$(awk '/^reference platform:/ {print $3}' "$work/ref.out")

run_at() { # step-line rate duration extra-path-lines
  cat > "$work/s.toml" <<TOML
name = "bench"
[paths.dagger]
$4
[load]
model = "open"
rate = $2
duration = "$3"
warmup = "1s"
timeout = "2s"
[[flow]]
name = "f"
steps = [$1]
${5:-}
TOML
  "${pin_gen[@]}" "$H" run "$work/s.toml" --quiet --out "$work/out-$RANDOM" 2>/dev/null | grep -E '^│ dagger|achieved' || true
}

remote="base_url = \"$url\"
headers = { \"X-Feature-USE_DAGGER_WORKFLOW_ENGINE\" = \"true\" }"
healthz='{ name = "healthz", path = "/healthz" }'
execute='{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }'

echo "## 1a. capacity against a trivial endpoint (GET /healthz)"
for rate in 20000 40000 60000 70000; do run_at "$healthz" "$rate" 5s "$remote"; done
echo "## 1b. capacity against the reference platform (POST /api/workflows/execute, Dagger path)"
for rate in 5000 10000 15000 20000; do run_at "$execute" "$rate" 5s "$remote"; done
kill %1 2>/dev/null || true
pin_gen=()

echo "## 2. p50 against a known fixed service time (in-process reference platform, legacy path)"
for ms in 20 50 100; do
  run_at "$execute" 200 10s 'target = "reference"' "[reference]
executor_latency = \"${ms}ms\"
executor_jitter = \"0ms\""
done

echo "## 3. peak resident memory, 6 s against 60 s at 2000/s (two-step flow, in-process reference platform)"
for secs in 6 60; do
  cat > "$work/m.toml" <<TOML
name = "mem"
[paths.legacy]
target = "reference"
[load]
model = "open"
rate = 2000
duration = "${secs}s"
timeout = "2s"
[[flow]]
name = "f"
steps = [
  { name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202], extract = { task_id = "/task_id" } },
  { name = "status", path = "/api/tasks/\${task_id}", expect_status = [200] },
]
TOML
  /usr/bin/time -f "duration ${secs}s: peak RSS %M kB" "$H" run "$work/m.toml" --quiet --out "$work/mem-$secs" 2>&1 >/dev/null | grep 'peak RSS'
done
