#!/usr/bin/env bash
# The phase gate, as a CI job calls it:
#
#   ci/gate.sh PHASE [--from DIR] [--out DIR] [--dry-run] [--quiet]
#   ci/gate.sh establish [--phase N] [--repetitions K] [--force] [--quiet]
#
# Builds harness in release mode if needed (cargo rebuilds only what changed; set
# HARNESS_BIN to use a prebuilt binary instead) and runs it from the repository root.
#
# `ci/gate.sh PHASE` runs `harness gate --phase PHASE --plan ci/phases.toml ...`, prints
# the decision and where the report folder is, and exits with the gate's code:
#   0 GO · 3 NO-GO · 4 ROLLBACK · 5 INCONCLUSIVE · 2 bad input · 1 runtime error
#   130 interrupted (SIGINT) · 143 interrupted (SIGTERM)
#
# `ci/gate.sh establish` runs `harness baseline establish --plan ci/phases.toml ...`
# (before the migration: every plan scenario's base path run and calibrated, saved in the
# plan's baselines folder; refused with exit 2 when one exists, unless --force) and prints
# where the baselines are.
#
# Outputs for the next CI step:
# - on GitHub Actions ($GITHUB_OUTPUT set), the step outputs `report`, `decision` (GO,
#   NO-GO, ROLLBACK, INCONCLUSIVE, error, interrupted), `action` (advance, hold, rollback
#   from signal.json; none when no signal was written) and `exit_code`; for `establish`,
#   `baselines` (the folder) and `exit_code`;
# - with GATE_DOTENV=FILE (GitLab's artifacts:reports:dotenv), the same as REPORT=,
#   DECISION=, ACTION=, EXIT_CODE= (BASELINES= for `establish`) lines in FILE.
# With GITHUB_ACTIONS=true, a harness that failed to decide (exit 1 or 2) is annotated
# `::error title=harness failed::...` and said in the job summary; a decision's own
# annotations and summary come from `harness gate` itself, so that a NO-GO or a
# ROLLBACK never reads like a crash.
set -uo pipefail

usage() {
  echo "usage: ci/gate.sh PHASE [--from DIR] [--out DIR] [--dry-run] [--quiet]"
  echo "       ci/gate.sh establish [--phase N] [--repetitions K] [--force] [--quiet]"
}

if [ $# -lt 1 ]; then
  usage >&2
  exit 2
fi
case "$1" in
  -h | --help)
    usage
    exit 0
    ;;
  establish) mode=establish ;;
  *[!0-9]* | "")
    echo "ci/gate.sh: \`$1\` is not a phase number nor \`establish\`" >&2
    usage >&2
    exit 2
    ;;
  *) mode=gate ;;
esac
phase="$1"
shift
cd "$(dirname "$0")/.." || exit 1

on_actions() { [ "${GITHUB_ACTIONS:-}" = "true" ]; }

# KEY=value for the next step: a GitHub step output (key in lower case) and a dotenv line.
output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')=$2" >>"$GITHUB_OUTPUT"
  fi
  if [ -n "${GATE_DOTENV:-}" ]; then
    echo "$1=$2" >>"$GATE_DOTENV"
  fi
}

# A markdown line for the job summary, on GitHub Actions only.
summary() {
  if on_actions && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"
  fi
}

bin="${HARNESS_BIN:-}"
if [ -z "$bin" ]; then
  bin=target/release/harness
  if command -v cargo >/dev/null 2>&1; then
    cargo build --release -p harness --bin harness || {
      echo "gate.sh: cannot build harness (see above)" >&2
      if on_actions; then echo "::error title=harness failed::cannot build harness (see the log)"; fi
      output EXIT_CODE 1
      exit 1
    }
  elif [ ! -x "$bin" ]; then
    echo "gate.sh: no cargo to build harness and no $bin; install Rust or set HARNESS_BIN" >&2
    if on_actions; then echo "::error title=harness failed::no cargo to build harness and no $bin"; fi
    output EXIT_CODE 1
    exit 1
  fi
fi

# A SIGINT or SIGTERM (a cancelled CI job) must not end this script before harness has
# stopped: harness stops cleanly on it by itself and exits 130 or 143, and the outputs
# below are still written. (A trap, not an ignored signal, so harness gets it as usual.)
trap ':' INT TERM

# Runs harness and sets `code` to its exit status. A SIGTERM sent to this script alone
# (`docker stop` or Kubernetes with the script as PID 1) is passed on to harness, which
# then stops cleanly; SIGINT is not passed on, because a Ctrl-C at a terminal reaches
# harness itself already (a second one would make it exit at once).
run_harness() {
  "$bin" "$@" &
  local child=$!
  trap 'kill -TERM "$child" 2>/dev/null' TERM
  while :; do
    code=0
    wait "$child" || code=$?
    # A trapped signal interrupts `wait` (status > 128) while harness still runs.
    if [ "$code" -gt 128 ] && kill -0 "$child" 2>/dev/null; then
      continue
    fi
    break
  done
  trap ':' INT TERM
}

interrupted() {
  case "$1" in
    130) echo "interrupted (SIGINT)" ;;
    143) echo "interrupted (SIGTERM)" ;;
    *) return 1 ;;
  esac
}

if [ "$mode" = establish ]; then
  # The plan's baselines folder (`baselines = "..."`, default baselines).
  baselines=$(sed -n 's/^[[:space:]]*baselines[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' ci/phases.toml | head -n 1)
  baselines="${baselines:-baselines}"
  run_harness baseline establish --plan ci/phases.toml "$@"
  case "$code" in
    0) meaning="established" ;;
    2) meaning="bad input, or baselines exist already (--force replaces them)" ;;
    *) meaning=$(interrupted "$code") || meaning="runtime error" ;;
  esac
  echo "baselines: ${meaning} (exit ${code}); baselines folder: ${baselines}"
  output BASELINES "$baselines"
  output EXIT_CODE "$code"
  if [ "$code" = 0 ]; then
    summary "### Baselines established in \`${baselines}/\`" ""
    summary "Commit them (or keep them as a CI artifact): the phase gates judge against them." ""
  elif [ "$code" = 1 ] || [ "$code" = 2 ]; then
    if on_actions; then
      echo "::error title=harness failed::ci/gate.sh establish: ${meaning} (exit ${code}); see the log"
    fi
    summary "### Baselines not established: ${meaning} (exit ${code})" "" "See the job log." ""
  fi
  exit "$code"
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

run_harness gate --phase "$phase" --plan ci/phases.toml "${extra[@]}" "$@"

case "$code" in
  0) decision="GO" meaning="GO" ;;
  3) decision="NO-GO" meaning="NO-GO" ;;
  4) decision="ROLLBACK" meaning="ROLLBACK" ;;
  5) decision="INCONCLUSIVE" meaning="INCONCLUSIVE" ;;
  2) decision="error" meaning="bad input" ;;
  *)
    if meaning=$(interrupted "$code"); then
      decision="interrupted"
    else
      decision="error" meaning="runtime error"
    fi
    ;;
esac

# What signal.json asks for (advance, hold, rollback): its top-level `action` key, the
# one at two spaces of indentation in the pretty-printed file.
action=""
if [ -f "$out/signal.json" ]; then
  action=$(sed -n 's/^  "action": "\([a-z]*\)",\{0,1\}$/\1/p' "$out/signal.json" | head -n 1)
fi
action="${action:-none}"

echo "phase ${phase} gate: ${meaning} (exit ${code}); action: ${action}; report folder: ${out}"
output REPORT "$out"
output DECISION "$decision"
output ACTION "$action"
output EXIT_CODE "$code"
if [ "$decision" = error ]; then
  if on_actions; then
    echo "::error title=harness failed::phase ${phase} gate: ${meaning} (exit ${code}): no decision was made; see the log"
  fi
  if [ ! -f "$out/summary.md" ]; then
    summary "### phase ${phase} gate: ${meaning} (exit ${code})" "" "No decision was made: see the job log." ""
  fi
fi
exit "$code"
