#!/usr/bin/env bash
# Builds the iceoryx2 benchmark peer (this crate, iceoryx2 from crates.io) with cargo's
# release profile into .cache/peers/iceoryx2/. Idempotent: skips the build when the binary
# exists and the hash of Cargo.toml, Cargo.lock and src/ matches the stamp of the last build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/.cache/peers/iceoryx2"
bin="$out/iceoryx2-peer"
stamp="$out/inputs.sha256"
hash="$(cd "$here" && find Cargo.toml Cargo.lock src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  echo "[peers] iceoryx2 peer is ready ($bin)" >&2
  exit 0
fi
command -v cargo >/dev/null 2>&1 || { echo "[peers] iceoryx2 peer needs cargo (https://rustup.rs)" >&2; exit 1; }
mkdir -p "$out"
log="$out/build.log"
start=$SECONDS
if ! CARGO_TARGET_DIR="$out/target" cargo build --release --locked -j "${CARGO_BUILD_JOBS:-2}" \
  --manifest-path "$here/Cargo.toml" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "[peers] iceoryx2 peer build failed (full log: $log)" >&2
  exit 1
fi
cp "$out/target/release/iceoryx2-peer" "$bin.tmp" && mv -f "$bin.tmp" "$bin"
echo "$hash" >"$stamp"
echo "[peers] iceoryx2 peer built in $((SECONDS - start)) s ($bin)" >&2
