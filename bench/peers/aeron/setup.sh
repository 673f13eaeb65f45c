#!/usr/bin/env bash
# Builds Aeron's benchmark program (bench/peers/aeron: AeronBench against aeron-all from Maven
# Central) into .cache/peers/aeron: aeron-bench.jar and lib/*.jar. Idempotent: skips the build
# while the output exists and a hash of pom.xml and the sources matches the stamp.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
src="$root/bench/peers/aeron"
out="$root/.cache/peers/aeron"
stamp="$out/inputs.sha256"
hash="$(cd "$src" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [ -f "$out/aeron-bench.jar" ] && ls "$out"/lib/aeron-all-*.jar >/dev/null 2>&1 && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  echo "[peers] aeron ($(ls "$out"/lib/aeron-all-*.jar | xargs -n1 basename)) is up to date" >&2
  exit 0
fi
for cmd in java mvn; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "[peers] aeron needs $cmd (bash bench/peers/setup.sh installs it)" >&2; exit 1; }
done
rm -rf "$out/build" "$out/lib" "$out/aeron-bench.jar" "$stamp"
mkdir -p "$out"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! mvn -q -B -Dstyle.color=never -f "$src/pom.xml" -DbuildDir="$out/build" -Dmaven.test.skip=true \
  package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/lib" >"$log" 2>&1; then
  cat "$log" >&2
  echo "[peers] aeron: the Maven build failed" >&2
  exit 1
fi
cp "$out/build/aeron-bench.jar" "$out/aeron-bench.jar"
rm -rf "$out/build"
echo "$hash" > "$stamp"
echo "[peers] aeron built ($(ls "$out"/lib/aeron-all-*.jar | xargs -n1 basename)) into .cache/peers/aeron" >&2
