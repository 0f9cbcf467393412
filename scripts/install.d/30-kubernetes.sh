#!/usr/bin/env bash
# The test Kubernetes binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# kubectl) and helm, built from the Go module proxy into ${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}/kube-<version>/ when
# missing (first build: ~15 min on 2 cores; warm: nothing to do). Binaries in $KUBEBUILDER_ASSETS are used instead.
# Needed by the test suite and the demo (`npm run cluster:up`), not by the benchmark.
set -euo pipefail
case "${1:---test}" in
--bench) exit 0 ;;
esac
exec bash "$(dirname "$0")/../../test/cluster/build-binaries.sh"
