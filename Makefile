# The two set-up commands of the README: `make demo` and `make test`. Everything else is reached through them.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
WITH_NODE := source scripts/node-env.sh &&

.PHONY: deps demo test test-unit lint typecheck bench build

node_modules/.package-lock.json: package.json package-lock.json
	$(WITH_NODE) npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

build: deps
	$(WITH_NODE) npm run build

lint: deps
	$(WITH_NODE) npm run lint

typecheck: deps
	$(WITH_NODE) npm run typecheck

test-unit: deps
	$(WITH_NODE) npm run test:unit

# Installs what the suite needs (Debian's Ceph, Go-built servers and control plane), starts and stops them itself.
# Then the fixed mutation subset (docs/mutation-testing.md): fails when a deletion-deciding module scores below 85 %.
test: deps
	bash scripts/install-test-deps.sh
	$(WITH_NODE) npm run lint && npm run typecheck && npm test && npm run mutation -- --subset ci

# The demo on the local one-node cluster (docs/demo.md); it installs what it needs itself, with progress shown.
# `make demo KEEP=1` leaves the cluster running, `make demo DOWN=1` stops a kept one.
demo: deps
	$(WITH_NODE) node scripts/demo.ts $(if $(KEEP),--keep) $(if $(DOWN),--down)

bench: deps
	bash scripts/install-test-deps.sh --bench
	$(WITH_NODE) npm run bench
