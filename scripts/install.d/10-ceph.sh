#!/usr/bin/env bash
# Debian's Ceph (RADOS Gateway, monitor, OSD, CLI): the production-grade S3 server of the test suite and the benchmark.
# test/servers/ceph-rgw.ts starts a throwaway single-node cluster from these binaries; nothing runs as a system service.
# Usage: 10-ceph.sh --test|--demo|--bench (the demo runs on versitygw alone and skips this step).
set -euo pipefail
mode="${1:---test}"
[ "$mode" = "--demo" ] && exit 0

packages=(radosgw ceph-mon ceph-osd ceph-common)
binaries=(radosgw radosgw-admin ceph-mon ceph-osd ceph ceph-authtool monmaptool)

have_all() {
  local b
  for b in "${binaries[@]}"; do command -v "$b" >/dev/null 2>&1 || return 1; done
}
have_all && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "10-ceph.sh: Ceph is missing and installing it needs root: apt-get install --no-install-recommends ${packages[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt run (a parallel install) holds the dpkg lock: wait for it instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
candidate() { apt-cache policy radosgw 2>/dev/null | awk '/Candidate:/ {print $2}'; }
if [ -z "$(candidate)" ] || [ "$(candidate)" = "(none)" ]; then
  echo "10-ceph.sh: apt-get update" >&2
  apt-get "${apt_opts[@]}" update -qq
fi
echo "10-ceph.sh: installing ${packages[*]}" >&2
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${packages[@]}" >&2
have_all || { echo "10-ceph.sh: Ceph binaries still missing after install" >&2; exit 1; }
