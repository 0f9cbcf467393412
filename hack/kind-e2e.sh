#!/usr/bin/env bash
# End to end on kind (Kubernetes in Docker), for CI and for anyone with Docker: creates a kind cluster, builds the
# chunkgc image from the Dockerfile and an S3 server image (versitygw, hack/kind/versitygw.Dockerfile), loads both with
# `kind load`, installs the chart, starts the S3 server in the cluster, seeds a Proxmox Backup Server datastore with a
# Job running `chunkgc seed` from the same image, applies a GarbageCollection (a dry run, then a real run) and checks
# that each run succeeds with exactly the counters the seed expects. Exits non-zero, with diagnostics, otherwise.
#
# Needs docker, kind, kubectl, helm and jq on PATH. Docs: docs/kind.md.
#
# Environment:
#   KIND_CLUSTER_NAME  cluster name (default chunkgc-e2e); an existing cluster of that name is reused, not deleted
#   KIND_NODE_IMAGE    node image for a new cluster (default: the kind release's own)
#   CHUNKGC_IMAGE      image name:tag to build and load (default chunkgc:e2e)
#   KEEP_CLUSTER=1     leave a cluster this script created running (its kubeconfig path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER_NAME:-chunkgc-e2e}"
IMAGE="${CHUNKGC_IMAGE:-chunkgc:e2e}"
S3_IMAGE="chunkgc-e2e/versitygw:v1.8.0"
KEEP="${KEEP_CLUSTER:-0}"
RELEASE=chunkgc
OPERATOR_NS=chunkgc-system
# As in hack/kind/seed-job.yaml and hack/kind/garbagecollection.yaml:
NS=pbs-e2e
GC=pbs-e2e
GRACE_SECONDS=300
# The engine widens its cutoff by its bound on the S3 server's clock skew (about a second inside a cluster).
SKEW_ALLOWANCE_SECONDS=5
TIMEOUT=300s

log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() {
  echo "kind-e2e: FAILED: $*" >&2
  exit 1
}

for tool in docker kind kubectl helm jq; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed on PATH"
done

WORK="$(mktemp -d)"
export KUBECONFIG="$WORK/kubeconfig"
created=0

diagnostics() {
  echo "--- diagnostics" >&2
  kubectl get nodes -o wide >&2 || true
  kubectl get pods -A -o wide >&2 || true
  kubectl -n "$NS" get garbagecollection "$GC" -o yaml >&2 || true
  kubectl -n "$NS" get jobs,pods,pvc -o wide >&2 || true
  kubectl -n "$NS" get events --sort-by=.metadata.creationTimestamp >&2 || true
  kubectl -n "$NS" logs job/seed --tail=40 >&2 || true
  kubectl -n "$OPERATOR_NS" logs "deployment/$RELEASE" --tail=80 >&2 || true
  kubectl -n s3 logs deployment/versitygw --tail=40 >&2 || true
}

cleanup() {
  local rc=$?
  [ "$rc" -eq 0 ] || diagnostics
  if [ "$created" = 1 ] && [ "$KEEP" != 1 ]; then
    kind delete cluster --name "$CLUSTER" || true
  fi
  if [ "$created" = 1 ] && [ "$KEEP" = 1 ]; then
    echo "cluster kept: export KUBECONFIG=$KUBECONFIG   (delete: kind delete cluster --name $CLUSTER)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT

restricted_namespace() {
  kubectl apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $1
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
EOF
}

# A manifest with its @NAME@ placeholders replaced: render FILE NAME=value...
render() {
  local text kv
  text="$(cat "$1")"
  shift
  for kv in "$@"; do text="${text//@${kv%%=*}@/${kv#*=}}"; done
  printf '%s\n' "$text"
}

# Two random keys, used by the S3 server and, through the Secret, by chunkgc; never on a command line.
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ACCESS_KEY="e2e$(random_hex 6)"
SECRET_KEY="$(random_hex 24)"

log "1. kind cluster $CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"
  # A previous run's datastore and resource would change what this run finds: start from none.
  kubectl delete namespace "$NS" s3 --ignore-not-found --wait --timeout=180s
else
  kind create cluster --name "$CLUSTER" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 120s
  created=1
fi
kubectl get nodes -o wide

log "2. images: $IMAGE (the repository's Dockerfile) and $S3_IMAGE"
DOCKER_BUILDKIT=1 docker build -t "$IMAGE" .
DOCKER_BUILDKIT=1 docker build -t "$S3_IMAGE" -f hack/kind/versitygw.Dockerfile hack/kind
kind load docker-image --name "$CLUSTER" "$IMAGE" "$S3_IMAGE"

log "3. helm install (namespace $OPERATOR_NS, Pod Security restricted)"
restricted_namespace "$OPERATOR_NS"
helm upgrade --install "$RELEASE" charts/chunkgc --namespace "$OPERATOR_NS" \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout 5m
kubectl -n "$OPERATOR_NS" get deployment,pods

log "4. S3 server in the cluster (versitygw, namespace s3)"
restricted_namespace s3
kubectl -n s3 create secret generic s3-root --dry-run=client -o yaml \
  --from-env-file=<(printf 'ROOT_ACCESS_KEY_ID=%s\nROOT_SECRET_ACCESS_KEY=%s\n' "$ACCESS_KEY" "$SECRET_KEY") |
  kubectl apply -f -
kubectl apply -f hack/kind/versitygw.yaml
kubectl -n s3 rollout status deployment/versitygw --timeout="$TIMEOUT"

log "5. seed a PBS datastore with garbage: a Job running chunkgc seed"
restricted_namespace "$NS"
kubectl -n "$NS" create secret generic pbs-s3 --dry-run=client -o yaml \
  --from-env-file=<(printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$ACCESS_KEY" "$SECRET_KEY") |
  kubectl apply -f -
# Any run at least one grace period after the upload has the same outcome; the seed states it for such a time.
ORACLE_NOW="$(jq -nr 'now + 1800 | floor | todate')"
kubectl -n "$NS" delete job seed --ignore-not-found --wait
render hack/kind/seed-job.yaml "IMAGE=$IMAGE" "ORACLE_NOW=$ORACLE_NOW" | kubectl apply -f -
# Succeeded or failed, whichever comes first (kubectl wait takes one condition and would sit out a failure).
deadline=$((SECONDS + 300))
until [ "$(kubectl -n "$NS" get job seed -o jsonpath='{.status.succeeded}')" = 1 ]; do
  [ "$(kubectl -n "$NS" get job seed -o jsonpath='{.status.failed}')" != 1 ] || fail "the seed Job failed"
  [ "$SECONDS" -lt "$deadline" ] || fail "the seed Job did not finish in 300 s"
  sleep 2
done
SEED="$(kubectl -n "$NS" get pods -l job-name=seed \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')"
EXPECTED="$(jq -cS '.expected.counters' <<<"$SEED")"
[ "$EXPECTED" != null ] || fail "the seed's report has no expectation: $SEED"
echo "seed wrote $(jq .report.objects <<<"$SEED") objects; expected counters: $EXPECTED"
# From this second on every seeded object is past the engine's cutoff, now - max(grace, 300 s) - clock skew (S3 times
# are whole seconds: the last upload rounded up, plus one for the strict comparison), so every run from then on
# finds what the seed expects.
FIXED_FROM="$(jq --argjson grace "$GRACE_SECONDS" --argjson skew "$SKEW_ALLOWANCE_SECONDS" \
  '[.report.waves[] | select(. != null) | .endMs] | max / 1000 | ceil + ([$grace, 300] | max) + $skew + 1' <<<"$SEED")"

log "6. wait until the seeded garbage is older than the grace period ($((FIXED_FROM - $(date +%s))) s)"
while [ "$(date +%s)" -lt "$FIXED_FROM" ]; do sleep 2; done

# Waits for the run of this Job name to be recorded, then checks its result, start time and counters.
check_run() {
  local job="$1" dry="$2" run
  kubectl -n "$NS" wait "garbagecollection/$GC" --for=jsonpath='{.status.lastRun.jobName}'="$job" \
    --timeout="$TIMEOUT" || fail "no result for run $job"
  kubectl -n "$NS" get chunkgc
  run="$(kubectl -n "$NS" get garbagecollection "$GC" -o json | jq -c '.status.lastRun')"
  [ "$(jq -r .result <<<"$run")" = Succeeded ] || fail "run $job: $(jq -r '.result + ": " + (.message // "")' <<<"$run")"
  [ "$(jq -r .dryRun <<<"$run")" = "$dry" ] || fail "run $job: dryRun is not $dry"
  [ "$(jq -r '.startTime | fromdate' <<<"$run")" -ge "$FIXED_FROM" ] ||
    fail "run $job started before the garbage passed the grace period"
  local got
  got="$(jq -cS '.counters' <<<"$run")"
  echo "counters of $job: $got"
  [ "$got" = "$EXPECTED" ] || fail "run $job: counters differ from the seed's expectation $EXPECTED"
}

log "7. a dry run: GarbageCollection with dryRun: true"
kubectl apply -f hack/kind/garbagecollection.yaml
check_run "$GC-g1" true

log "8. the real run: dryRun: false"
kubectl -n "$NS" patch garbagecollection "$GC" --type=merge -p '{"spec":{"dryRun":false}}'
check_run "$GC-g2" false

log "9. Events and the operator's metrics"
kubectl -n "$NS" get events --field-selector "involvedObject.name=$GC" --sort-by=.metadata.creationTimestamp
METRICS="$(kubectl get --raw "/api/v1/namespaces/$OPERATOR_NS/services/$RELEASE-metrics:metrics/proxy/metrics")"
grep -F "namespace=\"$NS\",name=\"$GC\"" <<<"$METRICS" | grep '^chunkgc_' || true
grep -qxF "chunkgc_runs_total{namespace=\"$NS\",name=\"$GC\",result=\"Succeeded\"} 2" <<<"$METRICS" ||
  fail "the operator's metrics do not count two successful runs"

log "kind e2e passed"
