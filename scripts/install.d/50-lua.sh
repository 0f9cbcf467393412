#!/usr/bin/env bash
# Lua 5.1 (Debian's lua5.1 package): Argo CD runs resource health checks in gopher-lua, a Lua 5.1, so the chart's
# health check for GarbageCollections is tested with a real Lua 5.1 interpreter. Skipped when it is installed.
# Usage: 50-lua.sh --test|--demo|--bench (only the tests need it).
set -euo pipefail
mode="${1:---test}"
[ "$mode" = "--test" ] || exit 0
if command -v lua5.1 >/dev/null 2>&1; then exit 0; fi
echo "50-lua.sh: installing lua5.1 from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends lua5.1 >&2
command -v lua5.1 >/dev/null 2>&1 || { echo "50-lua.sh: lua5.1 did not install" >&2; exit 1; }
