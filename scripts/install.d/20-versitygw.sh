#!/usr/bin/env bash
# versitygw (Apache-2.0, github.com/versity/versitygw): a light S3 gateway over a POSIX directory, the suite's default
# S3 server and the demo's. Built from the Go module proxy into the cache, outside the work tree; skipped when the
# binary of the pinned version is already there (checked from the module version Go embeds in the binary).
# Usage: 20-versitygw.sh --test|--demo|--bench
set -euo pipefail
VERSITYGW_VERSION="v1.8.0" # keep in step with docs/s3-servers.md
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
bin="$cache/bin/versitygw"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  echo "20-versitygw.sh: the Go toolchain is needed to build versitygw $VERSITYGW_VERSION" >&2
  exit 1
fi

built_version() { go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/versity/versitygw" {print $3}'; }
if [ -x "$bin" ] && [ "$(built_version)" = "$VERSITYGW_VERSION" ]; then exit 0; fi

echo "20-versitygw.sh: building versitygw $VERSITYGW_VERSION into $cache/bin (a few minutes when cold)" >&2
mkdir -p "$cache/bin"
# A clean build environment: no module-mode surprises from the caller's GOFLAGS or a workspace file.
env -u GOFLAGS -u GOWORK GOBIN="$cache/bin" CGO_ENABLED=0 \
  go install -buildvcs=false "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
[ "$(built_version)" = "$VERSITYGW_VERSION" ] || { echo "20-versitygw.sh: build did not produce $bin" >&2; exit 1; }
