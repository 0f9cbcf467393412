#!/usr/bin/env bash
# promtool (Apache-2.0, the Prometheus project's rule checker) built from the Go module proxy into the cache,
# outside the work tree: the chart's PrometheusRule is checked with `promtool check rules` by the unit tests.
# Skipped when the binary of the pinned version is already there. Usage: 60-promtool.sh --test|--demo|--bench.
set -euo pipefail
mode="${1:---test}"
[ "$mode" = "--test" ] || exit 0
PROMETHEUS_VERSION="v0.316.0"
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
bin="$cache/bin/promtool"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
if ! command -v go >/dev/null 2>&1; then
  echo "60-promtool.sh: the Go toolchain is needed to build promtool $PROMETHEUS_VERSION" >&2
  exit 1
fi

built_version() { go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/prometheus/prometheus" {print $3}'; }
if [ -x "$bin" ] && [ "$(built_version)" = "$PROMETHEUS_VERSION" ]; then exit 0; fi

echo "60-promtool.sh: building promtool $PROMETHEUS_VERSION into $cache/bin (a few minutes, once)" >&2
mkdir -p "$cache/bin"
env -u GOFLAGS -u GOWORK GOBIN="$cache/bin" CGO_ENABLED=0 \
  go install -buildvcs=false "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >&2
[ "$(built_version)" = "$PROMETHEUS_VERSION" ] || { echo "60-promtool.sh: build did not produce $bin" >&2; exit 1; }
