#!/usr/bin/env bash
# The phase gate, as a CI job calls it:
#
#   ci/gate.sh PHASE [--from DIR] [--out DIR] [--dry-run] [--quiet]
#
# Builds harness in release mode if needed (cargo rebuilds only what changed; set
# HARNESS_BIN to use a prebuilt binary instead), runs
# `harness gate --phase PHASE --plan ci/phases.toml ...` from the repository root, prints
# where the report folder is and exits with the gate's code:
#   0 GO · 3 NO-GO · 4 ROLLBACK · 5 INCONCLUSIVE · 2 bad input · 1 runtime error
#   130 interrupted (SIGINT) · 143 interrupted (SIGTERM)
# On GitHub Actions it also sets the step outputs `report` (the folder) and `exit_code`.
set -uo pipefail

if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "usage: ci/gate.sh PHASE [--from DIR] [--out DIR] [--dry-run] [--quiet]" >&2
  exit 2
fi
phase="$1"
shift
cd "$(dirname "$0")/.." || exit 1

bin="${HARNESS_BIN:-}"
if [ -z "$bin" ]; then
  bin=target/release/harness
  if command -v cargo >/dev/null 2>&1; then
    cargo build --release -p harness --bin harness || {
      echo "gate.sh: cannot build harness (see above)" >&2
      exit 1
    }
  elif [ ! -x "$bin" ]; then
    echo "gate.sh: no cargo to build harness and no $bin; install Rust or set HARNESS_BIN" >&2
    exit 1
  fi
fi

# The report folder: the one given with --out, else a fresh one chosen here, so that it
# can be printed and handed to the next CI step.
out=""
prev=""
for arg in "$@"; do
  case "$arg" in
    --out=*) out="${arg#--out=}" ;;
  esac
  if [ "$prev" = "--out" ]; then out="$arg"; fi
  prev="$arg"
done
extra=()
if [ -z "$out" ]; then
  out="reports/phase-${phase}/$(date -u +%Y%m%dT%H%M%SZ)"
  extra=(--out "$out")
fi

"$bin" gate --phase "$phase" --plan ci/phases.toml "${extra[@]}" "$@"
code=$?

case "$code" in
  0) meaning="GO" ;;
  3) meaning="NO-GO" ;;
  4) meaning="ROLLBACK" ;;
  5) meaning="INCONCLUSIVE" ;;
  2) meaning="bad input" ;;
  130) meaning="interrupted (SIGINT)" ;;
  143) meaning="interrupted (SIGTERM)" ;;
  *) meaning="runtime error" ;;
esac
echo "phase ${phase} gate: ${meaning} (exit ${code}); report folder: ${out}"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "report=${out}"
    echo "exit_code=${code}"
  } >>"$GITHUB_OUTPUT"
fi
exit "$code"
