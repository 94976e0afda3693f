#!/bin/bash
# Runs the OCI validation suite (run.sh) against runc and against nook's
# runtime in the three modes, and prints a table of how many of the 58
# programs each passes, then per mode the programs on which they differ.
# `make oci-suite` runs this. Run as root. About 7 minutes per runtime.
#
#   test/oci-suite/compare.sh [--runc PATH] [--nook PATH] [--modes "root rootless single"]
#                             [--filter REGEX] [--out DIR]
#
# --nook   default build/nook-runc (the runc-compatible name of build/nook);
#          when it is missing its column says so and only runc runs
# --out    default build/oci-suite; each run's TAP goes to OUT/MODE-runc and
#          OUT/MODE-nook (see run.sh), its printed lines to OUT/MODE-NAME.log
#
# A cell is "N +Q": N programs pass, Q more are QUIET (exit 0, no test line,
# no error: how nine programs report success; see run.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

runc=$(command -v runc || true)
nook=$repo/build/nook-runc
modes='root rootless single'
filter='' out=$repo/build/oci-suite
while [ $# -gt 0 ]; do
  case $1 in
    --runc) runc=${2:?}; shift 2 ;;
    --nook) nook=${2:?}; shift 2 ;;
    --modes) modes=${2:?}; shift 2 ;;
    --filter) filter=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n '7,8p' "$0" | sed 's/^# \{0,3\}//' >&2; exit 2 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$runc" ] && [ -x "$runc" ] || { echo "compare.sh: no runc (pass --runc PATH)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (root mode needs it)" >&2; exit 2; }
mkdir -p "$out"
# build/ holds tracked build scripts, so the default output directory ignores itself.
[ "$out" != "$repo/build/oci-suite" ] || [ -f "$out/.gitignore" ] || echo '*' >"$out/.gitignore"

have_nook=1
[ -x "$nook" ] || have_nook=0
runtimes=(runc)
[ "$have_nook" = 0 ] || runtimes+=(nook)

for mode in $modes; do
  for name in "${runtimes[@]}"; do
    if [ "$name" = runc ]; then rt=$runc; else rt=$nook; fi
    echo "== $mode, $name ($rt)"
    # A run that fails to start (exit 2) stops the comparison; failing programs do not.
    bash "$here/run.sh" --mode "$mode" --runtime "$rt" --out "$out/$mode-$name" \
      ${filter:+--filter "$filter"} >"$out/$mode-$name.log"
    grep -E '^[0-9]+ of ' "$out/$mode-$name.log"
  done
done

cell() { # SUMMARY.TXT → "N +Q"
  awk '$2 == "PASS" { n++ } $2 == "QUIET" { q++ } END { printf "%d +%d", n, q }' "$1"
}
echo
printf '%-10s %-12s %s\n' mode runc nook
for mode in $modes; do
  if [ "$have_nook" = 1 ]; then n=$(cell "$out/$mode-nook/summary.txt"); else n="not built ($nook)"; fi
  printf '%-10s %-12s %s\n' "$mode" "$(cell "$out/$mode-runc/summary.txt")" "$n"
done
total=$(wc -l <"$out/$(set -- $modes; echo "$1")-runc/summary.txt")
echo "(of $total programs; N +Q: N pass, Q more QUIET: no test line, no error; see run.sh)"

[ "$have_nook" = 1 ] || exit 0
# Where they differ, so the work can go to what runc passes and nook does not
# (QUIET counts as passing here, marked with a *).
for mode in $modes; do
  pairs=$(join <(awk '{print $1, $2}' "$out/$mode-runc/summary.txt" | sort) \
               <(awk '{print $1, $2}' "$out/$mode-nook/summary.txt" | sort))
  only_runc=$(awk '$2 ~ /PASS|QUIET/ && $3 !~ /PASS|QUIET/ { printf " %s%s", $1, ($2 == "QUIET" ? "*" : "") }' <<<"$pairs")
  only_nook=$(awk '$2 !~ /PASS|QUIET/ && $3 ~ /PASS|QUIET/ { printf " %s%s", $1, ($3 == "QUIET" ? "*" : "") }' <<<"$pairs")
  echo "$mode: runc passes, nook does not:${only_runc:- none}"
  echo "$mode: nook passes, runc does not:${only_nook:- none}"
done
