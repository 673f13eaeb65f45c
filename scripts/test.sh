#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: bootstrap, benchmark peers, type-check,
# lint, the Kubernetes binaries, containerd, Helm and the node packages, then unit, integration
# and Kubernetes tests on Node 20 (the machine's) and on Node 24 (LTS), and the real-node
# tests (test/nodes: kubelets, containerd, pods) once, on Node 20.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
bash bench/peers/setup.sh
# etcd and the Kubernetes components, containerd, Helm (cached; the first builds take minutes)
echo "[test] Kubernetes binaries, containerd and Helm" >&2
bash scripts/go-build.sh kube >/dev/null
bash scripts/go-build.sh node >/dev/null
bash scripts/go-build.sh helm >/dev/null
bash scripts/node-deps.sh
echo "[test] type-check" >&2
node_modules/.bin/tsc --noEmit --incremental false -p tsconfig.json
echo "[test] lint and format" >&2
node_modules/.bin/eslint .
node_modules/.bin/prettier --check . >/dev/null || { node_modules/.bin/prettier --list-different . >&2; echo "[test] files above are not formatted: npm run format" >&2; exit 1; }

mkdir -p .cache
passed=0
failed=0
broken=0
run_suite() {
  local node="$1" label="$2" report=".cache/vitest-$2.json" rc=0
  shift 2
  echo "[test] vitest on $label ($("$node" --version)): ${*:-every project}" >&2
  "$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$report" "$@" || rc=$?
  if [ -f "$report" ]; then
    read -r p f b < <("$node" -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests, r.testResults.filter((t)=>t.status==="failed"&&t.assertionResults.every((a)=>a.status!=="failed")).length)' "$root/$report")
    passed=$((passed + p)); failed=$((failed + f)); broken=$((broken + b))
  fi
  return $rc
}
status=0
run_suite "$(command -v node)" node20 --project unit --project integration --project kubernetes || status=1
run_suite "$(bash scripts/node24.sh)" node24 --project unit --project integration --project kubernetes || status=1
# Real nodes test the cluster, not the Node.js version: once is enough. They run alone, so
# their clusters do not compete for the 2 cores with the timing-sensitive tests above.
run_suite "$(command -v node)" nodes --project nodes || status=1
echo "vitest (Node 20 + Node 24, real nodes on Node 20): $passed passed, $failed failed, $broken test files failed outside a test (set-up, teardown)"
exit $status
