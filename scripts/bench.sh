#!/usr/bin/env bash
# The benchmark with every peer: installs the peers, then `shimmy bench` with any extra flags.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
bash "$root/bench/peers/setup.sh"
exec node "$root/bin/shimmy.js" bench "$@"
