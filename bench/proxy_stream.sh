#!/usr/bin/env bash
# Measures the fault proxy (the release binary, `harness proxy --config FILE`) under
# stream load, from outside: 50 clients that half-close after their request, a 1 GiB
# upload and a 1 GiB download through each mode with the proxy's peak resident memory
# (VmHWM from /proc/<pid>/status), and 1 000 concurrent connections through tcp_latency
# + bandwidth faults. It runs harness/tests/proxy_stream.rs in a release build with the
# transfer size raised, so the numbers come from the same code the tests assert on.
# Usage: bench/proxy_stream.sh [MiB]     (default 1024)   Prints one line per measure.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
HARNESS_STREAM_MB=$mib cargo test --release -q -p harness --test proxy_stream -- \
  --nocapture --test-threads 1 2>&1 | grep -oE '(http|tcp) mode.*|test result.*|panicked.*|FAILED.*'
