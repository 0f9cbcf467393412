#!/usr/bin/env bash
# toxiproxy (MIT, github.com/Shopify/toxiproxy): a TCP proxy that adds latency and jitter per connection direction,
# used by the benchmark to put a cloud-like round trip between the engine and the S3 server. Built from the Go module
# proxy into the cache, outside the work tree; skipped when the binary of the pinned version is already there.
# Usage: 40-toxiproxy.sh --test|--demo|--bench (only the benchmark needs it).
set -euo pipefail
mode="${1:---test}"
[ "$mode" = "--bench" ] || exit 0
TOXIPROXY_VERSION="v2.12.0"
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
bin="$cache/bin/toxiproxy-server"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  echo "40-toxiproxy.sh: the Go toolchain is needed to build toxiproxy $TOXIPROXY_VERSION" >&2
  exit 1
fi

built_version() { go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/Shopify/toxiproxy/v2" {print $3}'; }
if [ -x "$bin" ] && [ "$(built_version)" = "$TOXIPROXY_VERSION" ]; then exit 0; fi

echo "40-toxiproxy.sh: building toxiproxy $TOXIPROXY_VERSION into $cache/bin" >&2
mkdir -p "$cache/bin"
env -u GOFLAGS -u GOWORK GOBIN="$cache/bin" CGO_ENABLED=0 \
  go install -buildvcs=false "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2
mv "$cache/bin/server" "$bin"
[ "$(built_version)" = "$TOXIPROXY_VERSION" ] || { echo "40-toxiproxy.sh: build did not produce $bin" >&2; exit 1; }
