#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: bootstrap, benchmark peers, type-check,
# lint, the Kubernetes test binaries, then unit, integration and Kubernetes tests on Node 20 (the machine's) and on Node 24 (LTS).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
bash bench/peers/setup.sh
# etcd + kube-apiserver + kube-scheduler for test/kubernetes (cached; the first build takes minutes)
echo "[test] Kubernetes test binaries" >&2
bash scripts/kube-build.sh >/dev/null
echo "[test] type-check" >&2
node_modules/.bin/tsc --noEmit -p tsconfig.json
echo "[test] lint" >&2
node_modules/.bin/eslint .

mkdir -p .cache
passed=0
failed=0
broken=0
run_suite() {
  local node="$1" label="$2" report=".cache/vitest-$2.json" rc=0
  echo "[test] vitest on $label ($("$node" --version))" >&2
  "$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$report" || rc=$?
  if [ -f "$report" ]; then
    read -r p f b < <("$node" -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests, r.testResults.filter((t)=>t.status==="failed"&&t.assertionResults.every((a)=>a.status!=="failed")).length)' "$root/$report")
    passed=$((passed + p)); failed=$((failed + f)); broken=$((broken + b))
  fi
  return $rc
}
status=0
run_suite "$(command -v node)" node20 || status=1
run_suite "$(bash scripts/node24.sh)" node24 || status=1
echo "vitest (Node 20 + Node 24): $passed passed, $failed failed, $broken test files failed outside a test (set-up, teardown)"
exit $status
