#!/bin/bash
# A table of tests, passed, skipped and failed per file of bats TAP results.
#   summary.sh RESULTS_DIR FILE.bats...   (RESULTS_DIR holds FILE.bats.tap)
dir=$1; shift
printf '%-28s %6s %6s %6s %6s\n' FILE TESTS PASSED SKIPPED FAILED
total=0 pass=0 skip=0 fail=0
for f in "$@"; do
  t=$dir/$f.tap
  n=$(grep -cE '^(ok|not ok) ' "$t" || true)
  s=$(grep -cE '^ok .* # skip' "$t" || true)
  p=$(( $(grep -cE '^ok ' "$t" || true) - s ))
  x=$(grep -cE '^not ok ' "$t" || true)
  printf '%-28s %6d %6d %6d %6d\n' "$f" "$n" "$p" "$s" "$x"
  total=$((total+n)) pass=$((pass+p)) skip=$((skip+s)) fail=$((fail+x))
done
printf '%-28s %6d %6d %6d %6d\n' TOTAL "$total" "$pass" "$skip" "$fail"
