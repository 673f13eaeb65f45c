#!/usr/bin/env bash
# Everything a fresh clone needs before it can run: a C compiler and UCX (Debian), the npm
# dependencies (from package-lock.json), the native libraries and the compiled TypeScript.
# Idempotent and quick when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { echo "[bootstrap] $*" >&2; }

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "shimmy needs Node.js 20 or newer (found $(node --version))" >&2
  exit 1
fi
if ! command -v gcc >/dev/null 2>&1; then
  log "installing gcc from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
bash scripts/ucx-deps.sh
node scripts/build.mjs
