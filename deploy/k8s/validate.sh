#!/bin/sh
# Checks deploy/k8s/render.sh and its template: renders scenarios/demo.toml for 1, 4 and
# 16 segments (and files that are hard to embed byte for byte), validates every document
# against the Kubernetes $K8S_VERSION schemas with `kubernetes-validate --strict` (unknown
# fields are errors), then checks what the schemas cannot: completions = parallelism = N,
# an Indexed Job, the scenario in the ConfigMap equal to the file byte for byte, secrets
# only by reference, the pod hardening; that render.sh refuses bad input (exit 2); and
# lints the Dockerfile that builds the image they run (hadolint).
#
#   python3 -m venv .venv && .venv/bin/pip install -r deploy/k8s/requirements.txt
#   PATH="$PWD/.venv/bin:$PATH" deploy/k8s/validate.sh
#
# Needs kubernetes-validate and hadolint on PATH (deploy/k8s/requirements.txt) and a
# python3 with PyYAML (by default the one beside kubernetes-validate, which depends on
# it; or $PYTHON).
set -eu

K8S_VERSION=${K8S_VERSION:-1.31.0}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
render="$here/render.sh"

validator=${KUBERNETES_VALIDATE:-$(command -v kubernetes-validate || true)}
[ -n "$validator" ] && [ -x "$validator" ] || {
  echo "validate.sh: kubernetes-validate not found: pip install -r deploy/k8s/requirements.txt (in a venv) and put it on PATH" >&2
  exit 1
}
hadolint=$(command -v hadolint || true)
[ -n "$hadolint" ] || {
  echo "validate.sh: hadolint not found: pip install -r deploy/k8s/requirements.txt (in a venv) and put it on PATH" >&2
  exit 1
}
python=${PYTHON:-$(dirname "$validator")/python3}
[ -x "$python" ] || python=python3
"$python" -c 'import yaml' 2>/dev/null || {
  echo "validate.sh: $python cannot import yaml (PyYAML, a dependency of kubernetes-validate); set PYTHON" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
checks=0

# A value in the environment that must never reach the manifests.
sentinel="Bearer k8s-validate-sentinel-$$-do-not-render"

# render_ok FILE N OUT: renders FILE for N segments into OUT, with fixed start and run id.
render_ok() {
  ORCH_AUTHORIZATION=$sentinel "$render" --segments "$2" --scenario "$1" \
    --image registry.example.com/harness@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
    --namespace loadtest --results-claim harness-results --secret harness-target \
    --start-at 2026-12-03T09:00:00Z --run-id "ci-n$2" >"$3"
}

# check FILE N SCENARIO: the schemas, then our own checks, of one rendering.
check() {
  "$validator" --strict --quiet -k "$K8S_VERSION" "$1" || {
    echo "validate.sh: $1 ($3, N=$2) does not validate against Kubernetes $K8S_VERSION" >&2
    exit 1
  }
  if grep -Fq "k8s-validate-sentinel" "$1"; then
    echo "validate.sh: a value from the environment was written into $1" >&2
    exit 1
  fi
  "$python" - "$1" "$2" "$3" <<'EOF'
import os
import sys

import yaml

path, n, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3]
problems = []


def expect(ok, what):
    if not ok:
        problems.append(what)


with open(path, encoding="utf-8") as f:
    docs = [d for d in yaml.safe_load_all(f) if d is not None]
kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
expect([k for k, _ in kinds] == ["ConfigMap", "Job", "Job"], f"documents {kinds}: want ConfigMap, Job, Job")
config_map, segments, merge = docs
run_id = f"ci-n{n}"
expect(all(d["metadata"]["namespace"] == "loadtest" for d in docs), "every object in the namespace loadtest")

# The scenario, byte for byte, and nothing else in the ConfigMap.
with open(scenario, "rb") as f:
    content = f.read().decode("utf-8")
key = os.path.basename(scenario)
expect(list(config_map.get("data", {})) == [key], f"ConfigMap data keys {list(config_map.get('data', {}))}: want [{key}]")
expect(config_map["data"].get(key) == content, f"ConfigMap {key} differs from {scenario}")
expect(config_map.get("immutable") is True, "ConfigMap immutable")

spec = segments["spec"]
expect(spec.get("completionMode") == "Indexed", "segments Job completionMode Indexed")
expect(spec.get("completions") == n and spec.get("parallelism") == n,
       f"completions {spec.get('completions')} = parallelism {spec.get('parallelism')} = N {n}")
expect(spec.get("backoffLimit") == 0, "segments Job backoffLimit 0")
expect(merge["spec"].get("suspend") is True, "merge Job created suspended")

for job in (segments, merge):
    name = job["metadata"]["name"]
    pod = job["spec"]["template"]["spec"]
    expect(pod.get("restartPolicy") == "Never", f"{name}: restartPolicy Never")
    expect(pod.get("automountServiceAccountToken") is False, f"{name}: no service account token")
    psc = pod.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    expect(volumes.get("scenario", {}).get("configMap", {}).get("name") == config_map["metadata"]["name"],
           f"{name}: the scenario volume is the ConfigMap")
    expect(volumes.get("results", {}).get("persistentVolumeClaim", {}).get("claimName") == "harness-results",
           f"{name}: the results volume is the claim")
    for c in pod["containers"] + pod.get("initContainers", []):
        where = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        expect(sc.get("readOnlyRootFilesystem") is True, f"{where}: read-only root file system")
        expect(sc.get("allowPrivilegeEscalation") is False, f"{where}: no privilege escalation")
        expect(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drops ALL capabilities")
        res = c.get("resources", {})
        expect(res.get("requests") and res.get("requests") == res.get("limits"), f"{where}: requests = limits")
        # Secrets only by reference: no literal environment value at all.
        for e in c.get("env", []):
            expect("value" not in e and "valueFrom" in e, f"{where}: env {e['name']} has a literal value")
        refs = [r["secretRef"]["name"] for r in c.get("envFrom", []) if "secretRef" in r]
        expect(refs == ["harness-target"], f"{where}: envFrom the Secret harness-target (got {refs})")
        expect("configMapRef" not in str(c.get("envFrom")), f"{where}: no environment from a ConfigMap")

pod = spec["template"]["spec"]
spread = pod.get("topologySpreadConstraints", [])
expect(any(t.get("topologyKey") == "kubernetes.io/hostname" for t in spread)
       or "podAntiAffinity" in pod.get("affinity", {}), "segments spread over nodes")
args = pod["containers"][0]["args"]
expect(args[:2] == ["run", f"/scenario/{key}"], f"runs the mounted scenario: {args[:2]}")
for flag, value in (("--segments", str(n)), ("--start-at", "2026-12-03T09:00:00Z"),
                    ("--out", f"/results/{run_id}/segment-$(JOB_COMPLETION_INDEX)")):
    expect(flag in args and args[args.index(flag) + 1] == value, f"{flag} {value} in {args}")
expect("--segment-from-env" in args, "--segment-from-env")
env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
expect("job-completion-index" in str(env.get("JOB_COMPLETION_INDEX")), "JOB_COMPLETION_INDEX from the pod's index")

script = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
dirs = [f'"$run/segment-{i}"' for i in range(n)]
expect(f'harness merge --out "$run/merged" {" ".join(dirs)}\n' in script, "merge names every segment, once")
expect(f"segment-{n}\"" not in script, "merge names no segment past N")
# Kubernetes would expand $(NAME) in args; the script must not depend on it.
expect("$(" not in script, "no $( in the merge script")
expect("harness compare" in script and f"/compare/" in script, "the merge Job compares")

if problems:
    print(f"validate.sh: {path} (N={n}, {scenario}):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
EOF
  checks=$((checks + 1))
}

# refused WHY ARGS...: render.sh must exit 2 (and print why) for these arguments.
refused() {
  why=$1
  shift
  status=0
  "$render" --image registry.example.com/harness:1 --namespace loadtest \
    --results-claim harness-results --secret harness-target "$@" >"$work/refused.yaml" 2>"$work/refused.err" || status=$?
  if [ "$status" -ne 2 ] || [ -s "$work/refused.yaml" ] || ! [ -s "$work/refused.err" ]; then
    echo "validate.sh: render.sh should refuse $why (exit 2, a message, no output); it exited $status" >&2
    cat "$work/refused.err" >&2
    exit 1
  fi
  checks=$((checks + 1))
}

demo="$root/scenarios/demo.toml"
for n in 1 4 16; do
  render_ok "$demo" "$n" "$work/demo-$n.yaml"
  check "$work/demo-$n.yaml" "$n" "$demo"
  echo "validate.sh: N=$n: scenarios/demo.toml renders 3 documents valid for Kubernetes $K8S_VERSION (--strict), checks pass"
done

# Without --start-at the segments meet at a start barrier on the results volume.
ORCH_AUTHORIZATION=$sentinel "$render" --segments 4 --scenario "$demo" \
  --image registry.example.com/harness:1 --namespace loadtest \
  --results-claim harness-results --secret harness-target --run-id ci-barrier >"$work/barrier.yaml"
"$validator" --strict --quiet -k "$K8S_VERSION" "$work/barrier.yaml" || {
  echo "validate.sh: the start-barrier rendering does not validate against Kubernetes $K8S_VERSION" >&2
  exit 1
}
"$python" - "$work/barrier.yaml" <<'EOF'
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
segments = [d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") == "Indexed"]
args = segments[0]["spec"]["template"]["spec"]["containers"][0]["args"]
if "--start-at" in args or "--start-barrier" not in args or \
        args[args.index("--start-barrier") + 1] != "/results/ci-barrier/barrier":
    print(f"validate.sh: without --start-at, the segments should meet at /results/ci-barrier/barrier: {args}", file=sys.stderr)
    sys.exit(1)
EOF
checks=$((checks + 1))
echo "validate.sh: without --start-at, the segments start together at a barrier on the results volume"

# Files a YAML block scalar keeps byte for byte only with the right indicators.
mkdir "$work/edge"
printf 'name = "edge"\nseed = 1' >"$work/edge/no-final-newline.toml"
printf 'name = "edge"\n\n\n' >"$work/edge/blank-lines-at-end.toml"
printf '  # indented first line\nname = "edge"\n' >"$work/edge/indented-first-line.toml"
printf '\n\n    \nname = "edge"\n' >"$work/edge/blank-first-lines.toml"
printf 'name = "edge"\n\tx = "tab"\n   \ny = "  trailing  "   \n--- \n...\nz = "# not a comment: \xc3\xa9\xe2\x9c\x93"\n' >"$work/edge/mixed.toml"
for file in "$work"/edge/*.toml; do
  render_ok "$file" 1 "$work/edge.yaml"
  check "$work/edge.yaml" 1 "$file"
done
echo "validate.sh: files without a final newline, with blank lines at either end, an indented first line, tabs and UTF-8 are embedded byte for byte"

printf 'name = "leak"\n[paths.a]\nheaders = { Authorization = "Bearer abcdefghijklmnopqrstuvwxyz0123" }\n' >"$work/leak.toml"
refused "a literal bearer token" --segments 2 --scenario "$work/leak.toml"
printf 'name = "leak"\npassword = "hunter2hunter2"\n' >"$work/leak2.toml"
refused "a literal password" --segments 2 --scenario "$work/leak2.toml"
printf 'name = "crlf"\r\nseed = 1\r\n' >"$work/crlf.toml"
refused "CRLF line ends" --segments 2 --scenario "$work/crlf.toml"
: >"$work/empty.toml"
refused "an empty scenario" --segments 2 --scenario "$work/empty.toml"
refused "0 segments" --segments 0 --scenario "$demo"
refused "1001 segments" --segments 1001 --scenario "$demo"
refused "a bad start time" --segments 2 --scenario "$demo" --start-at "tomorrow"
refused "a run id that is not a DNS label" --segments 2 --scenario "$demo" --run-id "Demo_1"
refused "a missing scenario" --segments 2 --scenario "$work/missing.toml"
refused "a missing --secret" --segments 2 --scenario "$demo" --secret ""
echo "validate.sh: render.sh refuses literal credentials, CRLF, empty files and bad values (exit 2)"

if ! "$hadolint" "$root/Dockerfile"; then
  echo "validate.sh: hadolint finds problems in Dockerfile" >&2
  exit 1
fi
checks=$((checks + 1))
echo "validate.sh: hadolint passes the Dockerfile"

echo "validate.sh: all $checks checks passed (Kubernetes $K8S_VERSION, kubernetes-validate $("$validator" --version))"
