#!/bin/bash
# The reference for run.sh: the same podman v4.3.1 system tests against podman
# itself (with runc: crun refuses these hosts' hybrid cgroups), with podman's
# own housekeeping, as an unprivileged user. The test image is the one
# testimage.sh builds with nook, loaded into podman's store (no pulls here).
# podman's default network (slirp4netns) opens /dev/net/tun, mode 0600 on
# hosts without udev: a 0666 node is bind-mounted over it in a private mount
# namespace for the run, the host's node untouched.
# The one change to its housekeeping: a test image a test removed is loaded
# back from the archive rather than pulled.
#
#   test/podman-suite/run-podman.sh [FILE.bats ...]   (as root; PODMAN_GIT as run.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
nook=$repo/build/nook
user=${NOOK_SUITE_USER:-nooktest}
work=${NOOK_SUITE_WORK:-/tmp/podman-podman-suite}
[ "$(id -u)" = 0 ] || { echo "run-podman.sh: run as root" >&2; exit 2; }
command -v podman >/dev/null && command -v runc >/dev/null || { echo "run-podman.sh: needs podman and runc: apt-get install podman runc" >&2; exit 2; }
rm -rf "$work"; mkdir -p "$work/results"
if [ -n "${PODMAN_SYSTEM_TESTS:-}" ]; then cp -a "$PODMAN_SYSTEM_TESTS"/. "$work/"
else git -C "${PODMAN_GIT:?set PODMAN_GIT or PODMAN_SYSTEM_TESTS}" archive v4.3.1 test/system | tar -x -C "$work" --strip-components=2; fi
printf '#!/bin/sh\nexec /usr/bin/podman --runtime runc "$@"\n' > "$work/podman"
chmod 755 "$work/podman"; chmod -R a+rX "$work"; chmod 777 "$work/results"
uid=$(id -u "$user"); gid=$(id -g "$user"); home=$(getent passwd "$user" | cut -d: -f6)
rt=/tmp/podman-suite-run-$uid; mkdir -p "$rt"; chown "$user" "$rt"; chmod 700 "$rt"
tun=$work/tun; mknod "$tun" c 10 200; chmod 666 "$tun"
mkdir -p "$work/image"; chown "$user" "$work/image"
as_user() {
  unshare -m --propagation private -- /bin/sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"' "$tun" \
    setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
    env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    XDG_RUNTIME_DIR="$rt" TMPDIR=/tmp PODMAN="$work/podman" NOOK_SUITE_IMAGE="$work/image/testimage.tar" PODMAN_TIMEOUT=60 "$@"
}
# A podman pause process left from another mount namespace would keep the 0600 node.
pkill -u "$user" -f 'podman pause' || true
# Built afresh, so that podman gets what nook's run gets from today's testimage.sh.
as_user sh -c "'$nook' rmi -f quay.io/libpod/testimage:20220615 >/dev/null 2>&1; bash '$here/testimage.sh' '$nook' >/dev/null && '$nook' save -o '$work/image/testimage.tar' quay.io/libpod/testimage:20220615 && '$work/podman' rmi -f quay.io/libpod/testimage:20220615 >/dev/null 2>&1; '$work/podman' load -q -i '$work/image/testimage.tar' >/dev/null"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(001-basic.bats 010-images.bats 011-image.bats 020-tag.bats 030-run.bats 035-logs.bats 040-ps.bats 045-start.bats 050-stop.bats 055-rm.bats 065-cp.bats 075-exec.bats 080-pause.bats 120-load.bats 125-import.bats 130-kill.bats 140-diff.bats 160-volumes.bats 170-run-userns.bats)
# Offline, as for nook: the suite's setup pulls the test image when a test removed it; load it back instead.
cat >> "$work/helpers.bash" <<'HK'
eval "$(declare -f basic_setup | sed '1s/basic_setup/_podman_basic_setup/')"
function basic_setup() {
    $PODMAN image exists "$PODMAN_TEST_IMAGE_FQN" || $PODMAN load -q -i "$NOOK_SUITE_IMAGE" >/dev/null
    _podman_basic_setup
}
HK
cd "$work"
for f in "${files[@]}"; do
  echo "### $f"
  as_user bats --tap "$work/$f" | tee "$work/results/$f.tap" || true
done
pkill -u "$user" -f 'podman pause' || true
bash "$here/summary.sh" "$work/results" "${files[@]}"
