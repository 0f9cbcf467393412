#!/usr/bin/env bash
# Builds the binaries of the test cluster from the Go module proxy when they are missing, into
# ${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}/kube-<version>/bin (outside the work tree); warm runs do nothing.
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
#                                            k8s.io/kubernetes (staging modules pinned to the k8s.io/* v0.x release)
#   etcd                                     go.etcd.io/etcd/server/v3 through its etcdmain package
#   helm                                     helm.sh/helm/v3/cmd/helm
# A binary found in $KUBEBUILDER_ASSETS (the envtest convention) is used as it is and not built, so people with
# envtest binaries (plus kube-controller-manager from a Kubernetes server release) need no Go.
# Usage: build-binaries.sh [--print-dir]   (prints the cache bin directory and exits with --print-dir)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
root="$cache/kube-$KUBE_VERSION"
bin="$root/bin"
if [ "${1:-}" = "--print-dir" ]; then echo "$bin"; exit 0; fi

have() { # name: true when the binary is usable from KUBEBUILDER_ASSETS or the cache (helm: also from PATH)
  { [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$1" ]; } || [ -x "$bin/$1" ] ||
    { [ "$1" = helm ] && command -v helm >/dev/null 2>&1; }
}
missing=()
for name in etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler kube-proxy helm; do have "$name" || missing+=("$name"); done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v go >/dev/null 2>&1; then
  echo "build-binaries: missing ${missing[*]} and no Go toolchain to build them; put them in \$KUBEBUILDER_ASSETS" \
    "(see docs/test-cluster.md)" >&2
  exit 1
fi
mkdir -p "$bin" "$root/src"
exec 9>"$root/.build.lock"
flock 9 # one build at a time; a second caller waits and then finds the binaries
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
started=$SECONDS
log() { echo "build-binaries: $* ($((SECONDS - started)) s)" >&2; }

build_etcd() {
  local dir="$root/src/etcd"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module chunkgc.local/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  cat >"$dir/main.go" <<'GO'
// The etcd server binary: the same entry point as etcd's own main package.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" . && mv "$bin/etcd.tmp" "$bin/etcd")
}

build_kubernetes() {
  local dir="$root/src/kubernetes" minor="${KUBE_VERSION#*.}" staging
  minor="${minor%%.*}"
  mkdir -p "$dir"
  # The staging modules k8s.io/kubernetes replaces with ./staging/src/... are published as k8s.io/<name> v0.<minor>.<patch>.
  staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
    code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
    kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
    sample-controller)
  {
    printf 'module chunkgc.local/kubebuild\n\ngo 1.24\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KUBE_VERSION"
    for m in "${staging[@]}"; do printf '\tk8s.io/%s => k8s.io/%s v0.%s\n' "$m" "$m" "${KUBE_VERSION#*.}"; done
    printf ')\n'
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

// Pins the commands this module builds, so that `go mod tidy` keeps their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ld+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local cmds=() name
  for name in kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler kube-proxy; do have "$name" || cmds+=("$name"); done
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "$ld" -o "$dir/out/" "${cmds[@]/#/k8s.io/kubernetes/cmd/}" &&
    for name in "${cmds[@]}"; do mv "$dir/out/$name" "$bin/"; done)
}

build_helm() {
  local dir="$root/src/helm"
  mkdir -p "$dir"
  (cd "$dir" && GOBIN="$dir/out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" &&
    mv "$dir/out/helm" "$bin/helm")
}

for name in "${missing[@]}"; do
  have "$name" && continue # built together with an earlier one
  log "building $name"
  case "$name" in
  etcd) build_etcd || { echo "build-binaries: go.etcd.io/etcd/server/v3@v$ETCD_VERSION failed to build" >&2; exit 1; } ;;
  kube-apiserver | kube-controller-manager | kubectl | kubelet | kube-scheduler | kube-proxy)
    build_kubernetes || { echo "build-binaries: k8s.io/kubernetes@v$KUBE_VERSION failed to build" >&2; exit 1; } ;;
  helm) build_helm || { echo "build-binaries: helm.sh/helm/v3@v$HELM_VERSION failed to build" >&2; exit 1; } ;;
  esac
  log "built $name"
done
log "binaries ready in $bin"
