#!/bin/sh
# Renders deploy/k8s/harness-segments.yaml.tmpl for one segmented run of one scenario:
# a ConfigMap with the scenario file, an Indexed Job of N segments, and a suspended
# merge-and-compare Job. The manifests go to standard output:
#
#   deploy/k8s/render.sh --segments 4 --scenario scenarios/demo.toml \
#     --image registry.example.com/harness:1.0 --namespace loadtest \
#     --results-claim harness-results --secret harness-target | kubectl apply -f -
#
# Every value is checked before anything is written; a bad one exits 2 with what to do.
# Secrets never go into the manifests: the pods read the named Secret with envFrom, and
# a scenario file holding what looks like a literal credential is refused.
# deploy/k8s/README.md describes the whole flow.
set -eu

usage() {
  cat <<'EOF'
usage: render.sh --segments N --scenario FILE --image IMAGE --namespace NS
                 --results-claim PVC --secret NAME [options]

required:
  --segments N          segments (pods) of the Indexed Job, 1 to 1000
  --scenario FILE       the scenario file (TOML); embedded in a ConfigMap byte for byte
  --image IMAGE         the harness image (a digest, image@sha256:..., is best)
  --namespace NS        the namespace of every object
  --results-claim PVC   a ReadWriteMany PersistentVolumeClaim in NS, mounted at /results
                        (an object store: a claim of its CSI driver; see README.md)
  --secret NAME         a Secret in NS whose keys become the pods' environment
                        (ORCH_URL, ORCH_AUTHORIZATION, ...: the scenario's ${VARS})
options:
  --start-at TIME       a fixed common start, RFC 3339 (default: none; the segments
                        meet at a start barrier in /results/ID/barrier and start
                        together 5 s after the last pod is ready, however long the
                        pods took to be scheduled and pull the image)
  --run-id ID           names the objects and /results/ID (default: <scenario>-<time>)
  --cpu CPU             CPU request = limit of a segment pod (default 1)
  --memory MEM          memory request = limit of a segment pod (default 1Gi)
  --deadline SECONDS    activeDeadlineSeconds of each Job (default 3600)
  -h, --help            this text
EOF
}

die() {
  printf 'render.sh: %s\n' "$1" >&2
  exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
template="$here/harness-segments.yaml.tmpl"

segments="" scenario="" image="" namespace="" claim="" secret=""
start_at="" run_id="" cpu="1" memory="1Gi" deadline="3600"

while [ $# -gt 0 ]; do
  flag=$1
  case $flag in
    -h | --help)
      usage
      exit 0
      ;;
    --*=*)
      value=${flag#*=}
      flag=${flag%%=*}
      shift
      ;;
    --*)
      [ $# -ge 2 ] || die "$flag needs a value (render.sh --help)"
      value=$2
      shift 2
      ;;
    *) die "unexpected argument '$flag' (render.sh --help)" ;;
  esac
  case $flag in
    --segments) segments=$value ;;
    --scenario) scenario=$value ;;
    --image) image=$value ;;
    --namespace) namespace=$value ;;
    --results-claim) claim=$value ;;
    --secret) secret=$value ;;
    --start-at) start_at=$value ;;
    --run-id) run_id=$value ;;
    --cpu) cpu=$value ;;
    --memory) memory=$value ;;
    --deadline) deadline=$value ;;
    *) die "unknown option '$flag' (render.sh --help)" ;;
  esac
done

[ -n "$segments" ] || die "--segments is required (render.sh --help)"
[ -n "$scenario" ] || die "--scenario is required (render.sh --help)"
[ -n "$image" ] || die "--image is required (render.sh --help)"
[ -n "$namespace" ] || die "--namespace is required (render.sh --help)"
[ -n "$claim" ] || die "--results-claim is required (render.sh --help)"
[ -n "$secret" ] || die "--secret is required (render.sh --help)"

# matches VALUE ERE: whether the whole value matches the extended regular expression.
matches() {
  printf '%s\n' "$1" | grep -Eq "^($2)\$" && [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ]
}

dns_label='[a-z0-9]([-a-z0-9]*[a-z0-9])?'
matches "$segments" '[1-9][0-9]{0,3}' && [ "$segments" -le 1000 ] ||
  die "--segments must be a whole number from 1 to 1000, not '$segments'"
matches "$namespace" "$dns_label" && [ ${#namespace} -le 63 ] ||
  die "--namespace must be a DNS label (a-z, 0-9, '-'; at most 63), not '$namespace'"
matches "$claim" "$dns_label(\\.$dns_label)*" && [ ${#claim} -le 253 ] ||
  die "--results-claim must be a PersistentVolumeClaim name, not '$claim'"
matches "$secret" "$dns_label(\\.$dns_label)*" && [ ${#secret} -le 253 ] ||
  die "--secret must be a Secret name, not '$secret'"
matches "$image" '[A-Za-z0-9][A-Za-z0-9._/:@-]*' ||
  die "--image must be an image reference (registry/name:tag or name@sha256:...), not '$image'"
matches "$cpu" '[0-9]+(\.[0-9]+)?m?' || die "--cpu must be a CPU quantity (1, 2, 1500m), not '$cpu'"
matches "$memory" '[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?' ||
  die "--memory must be a memory quantity (512Mi, 2Gi), not '$memory'"
matches "$deadline" '[1-9][0-9]{0,6}' || die "--deadline must be seconds (1 to 9999999), not '$deadline'"

# The scenario: a regular, non-empty file of UTF-8 text that fits a ConfigMap (1 MiB,
# with room for the metadata), with no control characters but tab and newline (a
# carriage return or NUL cannot survive a YAML block scalar byte for byte).
[ -f "$scenario" ] && [ -r "$scenario" ] || die "cannot read the scenario file '$scenario'"
size=$(wc -c <"$scenario" | tr -d ' ')
[ "$size" -gt 0 ] || die "$scenario is empty"
[ "$size" -le 1000000 ] ||
  die "$scenario is $size bytes; a ConfigMap holds at most 1 MiB: shorten it (or bake it into the image)"
if LC_ALL=C tr -d '\t\n' <"$scenario" | LC_ALL=C grep -q '[[:cntrl:]]'; then
  die "$scenario has control characters (a carriage return? save it with LF line ends): it cannot go into a ConfigMap byte for byte"
fi
if command -v iconv >/dev/null 2>&1 && ! iconv -f UTF-8 -t UTF-8 <"$scenario" >/dev/null 2>&1; then
  die "$scenario is not UTF-8 text"
fi
[ -n "$(tr -d ' \t\n' <"$scenario")" ] || die "$scenario holds only blanks"

# Secrets belong in the Secret, read as ${VARS}: refuse values that look like literal
# credentials (a heuristic: an Authorization, token, password or API key whose value
# holds no ${VAR}, a bearer or basic credential, a private key, a JWT, an AWS key).
secret_keys='(authorization|proxy-authorization|password|passwd|api[-_]?key|access[-_]?key|secret[-_]?key|client[-_]?secret|(auth|access|bearer|api)[-_]?token|token)'
literal='["'"'"']?[[:space:]]*=[[:space:]]*("[^"$/][^"$]*"|'"'"'[^'"'"'$/][^'"'"'$]*'"'"')'
if found=$(grep -Ein -e "(^|[^a-z0-9_])$secret_keys$literal" \
  -e '["'"'"'](bearer|basic)[[:space:]]+[A-Za-z0-9+/_.~-]{16,}=*["'"'"']' \
  -e '-----BEGIN [A-Z ]*PRIVATE KEY-----' \
  -e 'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}' \
  -e '(AKIA|ASIA)[0-9A-Z]{16}' "$scenario"); then
  line=$(printf '%s\n' "$found" | head -n 1 | cut -d: -f1)
  die "$scenario:$line looks like a literal credential; put it in the Secret '$secret' and write \${VAR} in the scenario (the ConfigMap is readable by anyone who can read the namespace)"
fi

# Top-level string keys of the scenario (before its first table).
toml_key() {
  awk -v key="$1" '
    /^[[:space:]]*\[/ { exit }
    $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      value = $0
      sub("^[[:space:]]*" key "[[:space:]]*=[[:space:]]*", "", value)
      q = substr(value, 1, 1)
      if (q != "\"" && q != "'"'"'") exit
      value = substr(value, 2)
      end = index(value, q)
      if (end == 0) exit
      print substr(value, 1, end - 1)
      exit
    }' "$scenario"
}
name=$(toml_key name)
matches "$name" '[a-z0-9_-]+' || die "$scenario has no top-level name = \"...\" of [a-z0-9_-] (harness validate $scenario tells more)"
base=$(toml_key base)
candidate=$(toml_key candidate)
: "${base:=legacy}" "${candidate:=dagger}"
matches "$base" '[A-Za-z0-9_-]+' || die "$scenario: base = \"$base\" is not a path name this script can pass on"
matches "$candidate" '[A-Za-z0-9_-]+' || die "$scenario: candidate = \"$candidate\" is not a path name this script can pass on"

key=$(basename "$scenario")
matches "$key" '[-._a-zA-Z0-9]+' && [ ${#key} -le 253 ] ||
  die "the scenario's file name '$key' cannot be a ConfigMap key (letters, digits, '-', '_', '.'): rename it"

if grep -Eq '^[[:space:]]*(replay|ca_file|client_cert|client_key|schema)[[:space:]]*=|[{,][[:space:]]*(ca_file|client_cert|client_key|schema)[[:space:]]*=' "$scenario"; then
  echo "render.sh: warning: $scenario refers to other files (replay, tls, schema); only the scenario is in the ConfigMap, so they must be in the image or the pods cannot read them" >&2
fi

rfc3339='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})'
[ -z "$start_at" ] || matches "$start_at" "$rfc3339" ||
  die "--start-at must be an RFC 3339 time (2026-12-03T09:00:00Z), not '$start_at'"

if [ -z "$run_id" ]; then
  run_id="$(printf '%s' "$name" | tr '_' '-' | cut -c 1-24 | sed 's/-*$//')-$(date -u +%Y%m%d-%H%M%S)"
fi
matches "$run_id" "$dns_label" && [ ${#run_id} -le 40 ] ||
  die "--run-id must be a DNS label of at most 40 characters (it names the Jobs and /results/<run-id>), not '$run_id'"

# The common start: the fixed instant given, or a start barrier on the results volume
# (each pod leaves a file there and all start 5 s after the last one is ready).
if [ -n "$start_at" ]; then
  start_flag="--start-at" start_value="$start_at" start_text="starting at $start_at"
else
  start_flag="--start-barrier" start_value="/results/$run_id/barrier"
  start_text="starting together at the barrier $start_value"
fi

# The block scalar that holds the file: '|' keeps exactly one final newline, '|-' none,
# '|+' all of them; an explicit indentation (2 past the key's) when the first line
# starts with a blank, which YAML would otherwise take for the indentation.
last_two=$(tail -c 2 "$scenario" | od -An -tx1 | tr -d ' \n')
case $last_two in
  0a0a) chomp="+" ;;
  *0a) chomp="" ;;
  *) chomp="-" ;;
esac
indent=""
case $(head -n 1 "$scenario") in
  '' | ' '* | '	'*) indent="2" ;;
esac

segment_dirs=""
i=0
while [ "$i" -lt "$segments" ]; do
  segment_dirs="$segment_dirs \"\$run/segment-$i\""
  i=$((i + 1))
done

# Every value substituted is checked above to hold no backslash or newline (awk -v
# would read escapes); values are put in place with index(), never as regex
# replacements, and the scenario is copied line by line, never substituted.
awk -v file="$scenario" \
  -v N="$segments" -v KEY="$key" -v NAME="$name" -v IMAGE="$image" \
  -v NAMESPACE="$namespace" -v CLAIM="$claim" -v SECRET="$secret" \
  -v START_FLAG="$start_flag" -v START_VALUE="$start_value" -v START_TEXT="$start_text" \
  -v RUN_ID="$run_id" -v CPU="$cpu" -v MEMORY="$memory" \
  -v DEADLINE="$deadline" -v BASE="$base" -v CANDIDATE="$candidate" \
  -v HEADER="|$indent$chomp" -v SEGMENT_DIRS="${segment_dirs# }" '
  function put(s, from, to,    at, out) {
    out = ""
    while ((at = index(s, from)) > 0) {
      out = out substr(s, 1, at - 1) to
      s = substr(s, at + length(from))
    }
    return out s
  }
  # Lines of the template that only document it.
  /^##/ { next }
  $0 == "    {{SCENARIO_CONTENT}}" {
    while ((status = (getline line < file)) > 0) {
      if (line == "") print ""; else print "    " line
    }
    if (status < 0) { print "render.sh: cannot read " file > "/dev/stderr"; exit 1 }
    close(file)
    next
  }
  {
    $0 = put($0, "{{N}}", N); $0 = put($0, "{{SCENARIO_KEY}}", KEY)
    $0 = put($0, "{{SCENARIO_NAME}}", NAME); $0 = put($0, "{{IMAGE}}", IMAGE)
    $0 = put($0, "{{NAMESPACE}}", NAMESPACE); $0 = put($0, "{{RESULTS_CLAIM}}", CLAIM)
    $0 = put($0, "{{SECRET}}", SECRET); $0 = put($0, "{{START_FLAG}}", START_FLAG)
    $0 = put($0, "{{START_VALUE}}", START_VALUE); $0 = put($0, "{{START_TEXT}}", START_TEXT)
    $0 = put($0, "{{RUN_ID}}", RUN_ID); $0 = put($0, "{{CPU}}", CPU)
    $0 = put($0, "{{MEMORY}}", MEMORY); $0 = put($0, "{{DEADLINE}}", DEADLINE)
    $0 = put($0, "{{BASE}}", BASE); $0 = put($0, "{{CANDIDATE}}", CANDIDATE)
    $0 = put($0, "{{BLOCK_HEADER}}", HEADER); $0 = put($0, "{{SEGMENT_DIRS}}", SEGMENT_DIRS)
    if (index($0, "{{") > 0) { print "render.sh: unknown placeholder in the template: " $0 > "/dev/stderr"; exit 1 }
    print
  }' "$template"
