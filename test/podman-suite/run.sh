#!/bin/bash
# Runs podman v4.3.1's command-line system tests (test/system/*.bats) against
# nook, as an unprivileged user, with only the suite's housekeeping replaced
# (housekeeping.bash). Not part of `make test`: it needs podman's sources.
#
#   test/podman-suite/run.sh [FILE.bats ...]
#
# PODMAN_GIT: a git clone of containers/podman (has tag v4.3.1), or
# PODMAN_SYSTEM_TESTS: a directory holding its test/system files.
# NOOK_SUITE_USER: who runs the tests (default nooktest); NOOK_SUITE_WORK: the
# scratch directory; NOOK_SUITE_FILTER: a regex of test names (bats --filter).
# Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
nook=$repo/build/nook
user=${NOOK_SUITE_USER:-nooktest}
work=${NOOK_SUITE_WORK:-/tmp/nook-podman-suite}

[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (it runs the tests as $user)" >&2; exit 2; }
command -v bats >/dev/null || { echo "run.sh: bats is missing: apt-get install bats" >&2; exit 2; }
[ -x "$nook" ] || { echo "run.sh: build nook first: make" >&2; exit 2; }

rm -rf "$work"; mkdir -p "$work"
if [ -n "${PODMAN_SYSTEM_TESTS:-}" ]; then
  cp -a "$PODMAN_SYSTEM_TESTS"/. "$work/"
elif [ -n "${PODMAN_GIT:-}" ]; then
  git -C "$PODMAN_GIT" archive v4.3.1 test/system | tar -x -C "$work" --strip-components=2
else
  echo "run.sh: set PODMAN_GIT (a containers/podman clone) or PODMAN_SYSTEM_TESTS" >&2; exit 2
fi
cp "$here/housekeeping.bash" "$here/testimage.sh" "$work/"
# The housekeeping overrides come after podman's own helpers.
echo 'source "$(dirname "${BASH_SOURCE[0]}")/housekeeping.bash"' >> "$work/helpers.bash"
cp "$nook" "$work/nook"
chmod -R a+rX "$work"

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(001-basic.bats 010-images.bats 011-image.bats 020-tag.bats 030-run.bats 035-logs.bats 040-ps.bats 045-start.bats 050-stop.bats 055-rm.bats 065-cp.bats 075-exec.bats 080-pause.bats 120-load.bats 125-import.bats 130-kill.bats 140-diff.bats 160-volumes.bats 170-run-userns.bats)
home=$(getent passwd "$user" | cut -d: -f6)
uid=$(id -u "$user")
rt=/tmp/nook-suite-run-$uid; mkdir -p "$rt"; chown "$user" "$rt"; chmod 700 "$rt"
cd "$work"
# One bats run per file, its TAP kept in $work/results; a table of counts at the end.
mkdir -p "$work/results"; chmod 777 "$work/results"
for f in "${files[@]}"; do
  echo "### $f"
  setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups -- \
    env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    XDG_RUNTIME_DIR="$rt" TMPDIR=/tmp PODMAN="$work/nook" NOOK_SUITE_DIR="$work" PODMAN_TIMEOUT=60 \
    bats --tap ${NOOK_SUITE_FILTER:+--filter "$NOOK_SUITE_FILTER"} "$work/$f" | tee "$work/results/$f.tap" || true
done
echo
bash "$here/summary.sh" "$work/results" "${files[@]}"
