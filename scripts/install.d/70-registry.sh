#!/usr/bin/env bash
# The CNCF distribution registry (Apache-2.0, github.com/distribution/distribution) built from the Go module proxy
# into the cache, outside the work tree, and htpasswd (Debian's apache2-utils) for its bcrypt password file: the
# cluster test of image pull secrets pushes the engine image to it and has the node pull it with credentials.
# Skipped when the binary of the pinned version and htpasswd are already there. Usage: 70-registry.sh --test|--demo|--bench.
set -euo pipefail
mode="${1:---test}"
[ "$mode" = "--test" ] || exit 0
REGISTRY_VERSION="v3.1.2"
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
bin="$cache/bin/registry"

if ! command -v htpasswd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "70-registry.sh: htpasswd is missing and installing it needs root: apt-get install apache2-utils" >&2
    exit 1
  fi
  apt_opts=(-o DPkg::Lock::Timeout=600)
  if ! apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends apache2-utils >&2; then
    apt-get "${apt_opts[@]}" update -qq
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends apache2-utils >&2
  fi
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  echo "70-registry.sh: the Go toolchain is needed to build the registry $REGISTRY_VERSION" >&2
  exit 1
fi

built_version() {
  go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/distribution/distribution/v3" {print $3}'
}
if [ -x "$bin" ] && [ "$(built_version)" = "$REGISTRY_VERSION" ]; then exit 0; fi

echo "70-registry.sh: building the registry $REGISTRY_VERSION into $cache/bin (a few minutes when cold)" >&2
mkdir -p "$cache/bin"
env -u GOFLAGS -u GOWORK GOBIN="$cache/bin" CGO_ENABLED=0 \
  go install -buildvcs=false "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" >&2
[ "$(built_version)" = "$REGISTRY_VERSION" ] || { echo "70-registry.sh: build did not produce $bin" >&2; exit 1; }
