#!/usr/bin/env bash
# Installs what the test suite, the demo or the benchmark need on a fresh machine; every step is skipped when
# its result is already there, so warm runs cost nothing.  Usage: install-test-deps.sh [--demo|--bench]
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:---test}"
for step in scripts/install.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step" "$mode"
done
