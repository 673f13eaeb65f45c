#!/usr/bin/env bash
# `npm run test:mutation`: StrykerJS over the modules unit tests reach (list and reasons in
# test/mutation/stryker.config.mjs), on Node 24 (Stryker 10 needs Node >= 22). Incremental:
# reports/stryker-incremental.json lets a rerun test only mutants whose code or tests changed.
# The HTML report is reports/mutation/mutation.html; the last line printed is the score.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
node24="$(bash scripts/node24.sh)"
[ -f native/build/libshimmy.so ] || bash scripts/bootstrap.sh >&2
PATH="$(dirname "$node24"):$PATH" "$node24" node_modules/@stryker-mutator/core/bin/stryker.js run test/mutation/stryker.config.mjs "$@"
"$node24" -e '
const report = JSON.parse(require("node:fs").readFileSync("reports/mutation/mutation.json", "utf8"));
const count = {};
for (const file of Object.values(report.files)) for (const m of file.mutants) count[m.status] = (count[m.status] ?? 0) + 1;
const detected = (count.Killed ?? 0) + (count.Timeout ?? 0);
const valid = detected + (count.Survived ?? 0) + (count.NoCoverage ?? 0);
console.log(Object.entries(count).map(([k, v]) => `${k} ${v}`).join(", "));
console.log(`mutation score: ${((100 * detected) / valid).toFixed(1)}%`);
'
