#!/usr/bin/env bash
# The demo on a fresh machine: bootstrap, then the paper pipeline over shared memory and TCP.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec node "$root/bin/shimmy.js" demo "$@"
