#!/bin/bash
# Runs the OCI runtime conformance suite (opencontainers/runtime-tools
# validation/, 58 programs) against a runc-compatible runtime and counts the
# programs that pass fully. Not part of `make test`; `make oci-suite` runs
# compare.sh, which calls this once per mode and runtime.
#
#   test/oci-suite/run.sh [--mode root|rootless|single] [--runtime PATH]
#                         [--filter REGEX] [--out DIR] [--timeout SECONDS]
#
# --mode root      the programs (and so the runtime) run as real root
#        rootless  as uid 0 of a user namespace that maps 0 to $NOOK_SUITE_USER
#                  (default nooktest) and 1..65536 to its /etc/subuid range
#                  (unshare --map-users, through newuidmap), as podman and
#                  rootlesskit set runc up
#        single    as uid 0 of a user namespace that maps only that user's
#                  own id (`unshare -r`): no other uid or gid exists
# --runtime        default: runc from PATH
# --filter REGEX   only the programs whose name matches (grep -E)
# --out DIR        where each program's TAP (NAME.tap), its stderr
#                  (NAME.stderr) and summary.txt go; default
#                  build/oci-suite/MODE-RUNTIME (emptied first)
# --timeout        per program, default 60 s; a hung runtime is killed then
#
# Output: one line per program, PASS/QUIET/FAIL/TIMEOUT with its TAP counts,
# then "N of 58 programs pass (MODE, RUNTIME)" and the number of QUIET ones;
# OUT/summary.txt has "NAME STATUS OK NOT_OK SKIP" per program.
#
# PASS (what N counts, as the reference figures do: runc 1.1.5 on this host
# passes 28 as root, 18 rootless, 1 single): the program exits 0 and prints
# at least one "ok" line and no "not ok" line (a "not ok ... # TODO" counts
# as not ok too; the suite prints none). Skipped tests ("ok N # skip ...")
# do not fail a program; one whose tests were all skipped passes, marked
# "(all skipped)" and counted in the summary.
#
# QUIET (counted apart): exit 0, no test line at all and no YAML diagnostic.
# Nine programs report only this way, so for them QUIET is success.
# hooks, prestart, poststart, poststop, prestart_fail,
# poststart_fail and poststop_fail: success is "1..0" alone, failure is
# "1..0" after a YAML block with an "error" (hooks can never succeed: it
# expects "post-start1" where its hook writes "post-start1 called").
# process_rlimits_fail and process_capabilities_fail: success (the runtime
# refused the bad config) is no output and exit 0, failure is exit 1. They
# are apart because the _fail ones only check that the runtime reports an
# error: a runtime that fails at everything (runc in single mode) gets them.
# Every other program exits non-zero when it dies before its first check.
#
# How the programs are run: sequentially, each with the runtime as $RUNTIME
# and the runtime's default state directory (the suite passes no --root: runc
# keeps state in /run/runc as root and in $XDG_RUNTIME_DIR/runc in a user
# namespace, which is pointed at a scratch directory here). Their bundles go to
# a private $TMPDIR; after each program every container whose bundle is there
# is killed and force-deleted (so a program that failed halfway or timed out
# leaves nothing for the next one), and $TMPDIR is emptied.
#
# Run as root (root mode needs it; the other modes then drop to
# $NOOK_SUITE_USER). As another user only rootless and single work, as that
# user. Needs what build.sh needs (golang-go,
# golang-github-opencontainers-runtime-tools-dev, busybox-static; see
# test/deps.txt) and util-linux's unshare with --map-users (2.38+).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

mode=root runtime='' filter='' out='' timeout_s=60
user=${NOOK_SUITE_USER:-nooktest}
usage() { sed -n '7,8p' "$0" | sed 's/^# \{0,3\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --mode) mode=${2:?}; shift 2 ;;
    --runtime) runtime=${2:?}; shift 2 ;;
    --filter) filter=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done
case $mode in root|rootless|single) ;; *) echo "run.sh: --mode is root, rootless or single" >&2; exit 2 ;; esac

if [ -z "$runtime" ]; then
  runtime=$(command -v runc) || { echo "run.sh: no runc in PATH; pass --runtime PATH" >&2; exit 2; }
fi
# Absolute, since the programs run in another directory; a symlink (nook-runc)
# is kept as it is, since the runtime may look at the name it was called by.
case $runtime in
  /*) ;;
  */*) runtime=$(cd "$(dirname "$runtime")" && pwd)/$(basename "$runtime") ;;
  *) runtime=$(command -v "$runtime") || { echo "run.sh: $runtime is not in PATH" >&2; exit 2; } ;;
esac
[ -x "$runtime" ] || { echo "run.sh: $runtime is not an executable" >&2; exit 2; }

me=$(id -u)
if [ "$mode" = root ] && [ "$me" != 0 ]; then
  echo "run.sh: --mode root needs root" >&2; exit 2
fi

bash "$here/build.sh"
bin=$repo/build/oci-validation

if [ -z "$out" ]; then
  out=$repo/build/oci-suite/$mode-$(basename "$runtime")
  # build/ holds tracked build scripts, so this directory ignores itself.
  mkdir -p "$repo/build/oci-suite"
  [ -f "$repo/build/oci-suite/.gitignore" ] || echo '*' >"$repo/build/oci-suite/.gitignore"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.tap "$out"/*.stderr "$out"/summary.txt

# The user who runs the programs in the rootless modes, and its id ranges.
if [ "$me" = 0 ]; then
  run_uid=$(id -u "$user") run_gid=$(id -g "$user")
  as_user=(setpriv --reuid="$run_uid" --regid="$run_gid" --init-groups --)
  run_name=$user
else
  run_uid=$me run_gid=$(id -g)
  as_user=()
  run_name=$(id -un)
fi
subid_range() { # FILE → "START COUNT" of $run_name's first range
  awk -F: -v n="$run_name" -v u="$run_uid" '($1 == n || $1 == u) { print $2, $3; exit }' "$1"
}

# Scratch: cwd/ is each program's working directory (the suite wants the rootfs
# tarball and runtimetest there), tmp/ its $TMPDIR (bundles), xdg/ the rootless
# runtime's state, home/ its $HOME.
work=$(mktemp -d /tmp/nook-oci-suite.XXXXXX)
chmod 755 "$work"
mkdir -p "$work"/{cwd,tmp,xdg,home}
cp "$bin/runtimetest" "$bin/rootfs-amd64.tar.gz" "$work/cwd/"
chmod 700 "$work/xdg"

base_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  HOME="$work/home" TMPDIR="$work/tmp" RUNTIME="$runtime" LANG=C.UTF-8)
case $mode in
  root)
    # A mount namespace of its own (same propagation as the host's): programs
    # such as linux_ns_itype let the container share the runtime's mount
    # namespace, and the /proc, /dev and /sys mounts the runtime makes in the
    # bundle would otherwise stay on the host for good.
    prefix=(unshare --mount --propagation unchanged -- "${base_env[@]}" USER=root)
    ;;
  rootless)
    read -r subuid subuid_n < <(subid_range /etc/subuid) || true
    read -r subgid subgid_n < <(subid_range /etc/subgid) || true
    if [ -z "${subuid:-}" ] || [ -z "${subgid:-}" ]; then
      echo "run.sh: $run_name has no range in /etc/subuid and /etc/subgid (rootless mode needs one; single does not)" >&2
      rm -rf "$work"; exit 2
    fi
    # util-linux 2.38 spells the map OUTER,INNER,COUNT.
    prefix=("${as_user[@]}" unshare --user --map-root-user
      --map-users="$subuid,1,$subuid_n" --map-groups="$subgid,1,$subgid_n" --
      "${base_env[@]}" USER="$run_name" XDG_RUNTIME_DIR="$work/xdg")
    ;;
  single)
    prefix=("${as_user[@]}" unshare --user --map-root-user --
      "${base_env[@]}" USER="$run_name" XDG_RUNTIME_DIR="$work/xdg")
    ;;
esac
[ "$mode" = root ] || chown -R "$run_uid:$run_gid" "$work"/{cwd,tmp,xdg,home}

# Kills and deletes the containers a program left behind: in root mode those
# whose bundle is in our $TMPDIR (the default state directory is shared with
# anything else on the host), in the other modes all of them (a private state
# directory). Prints how many there were.
# The runtime's own commands get a timeout too: a hung runtime stalls nothing.
rt() { (cd "$work/cwd" && timeout -k 5 30 "${prefix[@]}" "$runtime" "$@"); }
sweep() {
  local ids id bundle n=0
  ids=$(rt list -q 2>/dev/null) || ids=''
  for id in $ids; do
    if [ "$mode" = root ]; then
      bundle=$(rt state "$id" 2>/dev/null |
        sed -n 's/.*"bundle": *"\([^"]*\)".*/\1/p' | head -1) || bundle=''
      case $bundle in "$work"/tmp/*) ;; *) continue ;; esac
    fi
    n=$((n + 1))
    rt kill "$id" KILL >/dev/null 2>&1 || true
    rt delete --force "$id" >/dev/null 2>&1 || true
  done
  # Inside the namespace first: files of mapped subordinate ids are its root's.
  (cd "$work" && "${prefix[@]}" find "$work/tmp" -mindepth 1 -delete 2>/dev/null) || true
  rm -rf "$work/tmp"/* 2>/dev/null || true
  [ "$mode" != root ] || cgroup_sweep
  echo "$n"
}

# The cgroup programs use fixed cgroup paths (runtime-tools/cgroups:
# /cgrouptest and testdir/cgrouptest/container); a runtime's delete removes the
# leaf, not the parents it created. Removes those that were not there before
# the run, and only when empty (rmdir).
suite_cgroups() {
  local d
  for d in /sys/fs/cgroup/{,*/}testdir/cgrouptest/container /sys/fs/cgroup/{,*/}testdir/cgrouptest \
           /sys/fs/cgroup/{,*/}testdir /sys/fs/cgroup/{,*/}cgrouptest; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}
cgroups_before=$(suite_cgroups)
# Interrupted or not, nothing of the run stays behind.
trap 'sweep >/dev/null; rm -rf "$work" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cgroup_sweep() {
  local d
  for d in $(suite_cgroups); do
    grep -qxF "$d" <<<"$cgroups_before" || rmdir "$d" 2>/dev/null || true
  done
}

programs=()
for t in "$bin"/*.t; do
  name=$(basename "$t" .t)
  [ -z "$filter" ] || echo "$name" | grep -qE -- "$filter" || continue
  programs+=("$name")
  cp "$t" "$work/cwd/"
done
total=$(ls "$bin"/*.t | wc -l)
[ ${#programs[@]} -gt 0 ] || { echo "run.sh: no program matches $filter" >&2; exit 2; }
[ "$mode" = root ] || chown "$run_uid:$run_gid" "$work"/cwd/*

# Root-mode runs on one host take turns program by program: the cgroup
# programs all use the same cgroup paths, and cgroup_sweep must not remove a
# cgroup another run's runtime has just made.
if [ "$mode" = root ]; then
  exec {lock}>>/tmp/nook-oci-suite-root.lock
fi

passed=0 quiet=0 all_skipped=0
for name in "${programs[@]}"; do
  if [ "$mode" = root ] && ! flock -n "$lock"; then
    [ -n "${told_wait:-}" ] || echo "(another root-mode run of the suite is going on: taking turns with it)" >&2
    told_wait=1
    flock "$lock"
  fi
  start=${EPOCHREALTIME/./}
  set +e
  (cd "$work/cwd" && timeout -k 10 "$timeout_s" "${prefix[@]}" "./$name.t") \
    </dev/null >"$out/$name.tap" 2>"$out/$name.stderr"
  rc=$?
  set -e
  tenths=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
  left=$(sweep)
  [ "$mode" != root ] || flock -u "$lock"
  ok=$(grep -cE '^ok( |$)' "$out/$name.tap" || true)
  notok=$(grep -cE '^not ok( |$)' "$out/$name.tap" || true)
  skip=$(grep -ciE '^ok( [0-9]+)?[^#]*# *skip' "$out/$name.tap" || true)
  plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out/$name.tap" || true)
  note=''
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=TIMEOUT
  elif [ "$rc" != 0 ] || [ "$notok" != 0 ]; then
    status=FAIL
  elif [ "$ok" -gt 0 ]; then
    status=PASS
    if [ "$skip" = "$ok" ]; then note=' (all skipped)'; all_skipped=$((all_skipped + 1)); fi
  elif [ -z "$plan" ] && [ -s "$out/$name.tap" ]; then
    status=FAIL note=' (no plan)'
  elif ! grep -q '^  ---' "$out/$name.tap"; then
    status=QUIET
  else
    status=FAIL
  fi
  [ "$status" != PASS ] || passed=$((passed + 1))
  [ "$status" != QUIET ] || quiet=$((quiet + 1))
  [ "$rc" = 0 ] || [ "$status" = TIMEOUT ] || note="$note exit $rc"
  [ "$left" = 0 ] || note="$note, $left container(s) left behind"
  printf '%-8s %-36s ok %3d  not ok %3d  skip %3d  %3d.%ds%s\n' \
    "$status" "$name" "$ok" "$notok" "$skip" $((tenths / 10)) $((tenths % 10)) "$note"
  printf '%s %s %d %d %d\n' "$name" "$status" "$ok" "$notok" "$skip" >>"$out/summary.txt"
done

of=$total
[ -z "$filter" ] || of="${#programs[@]} selected (of $total)"
echo "$passed of $of programs pass ($mode, $runtime)"
echo "  ($all_skipped of them with only skipped tests; $quiet more QUIET: no test line, no error)"
echo "TAP output: $out"
