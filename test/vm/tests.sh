# The cgroup v2 limit tests, run by the VM's /init as root (busybox sh).
# root only builds the cgroup tree the way systemd would and starts nook as
# the unprivileged user (uid 1000) in a chosen cgroup; nook itself always
# runs as that user. Prints "ok NAME" or "not ok NAME: why" per test.
set -u
CG=/sys/fs/cgroup
ALL="+cpu +io +memory +pids"
U=$CG/user.slice/user-1000.slice
D=$U/user@1000.service        # delegated to the user, as systemd's Delegate=yes does
APP=$D/app.slice
TERM_SCOPE=$APP/terminal.scope   # a terminal's scope: the user's shell lives there
RUN_SCOPE=$APP/run-1.scope       # what `systemd-run --user --scope -p Delegate=yes nook ...` makes
SESSION=$U/session-1.scope       # an SSH login's scope: root's
SVC=$CG/system.slice/ci.service  # a system service with User=user and Delegate=yes
BUSY=$CG/system.slice/busy.service
OUT=/tmp/out ERR=/tmp/err
ROOTFS=/rootfs

# --- the tree systemd would have made -------------------------------------------------------
delegate() { chown 1000:1000 "$1" "$1/cgroup.procs" "$1/cgroup.subtree_control" "$1/cgroup.threads"; }
echo "$ALL" > $CG/cgroup.subtree_control
mkdir -p $U $CG/system.slice
echo "$ALL" > $CG/user.slice/cgroup.subtree_control
echo "$ALL" > $U/cgroup.subtree_control
# The system slice hands out no io controller: for the "controller missing" test.
echo "+cpu +memory +pids" > $CG/system.slice/cgroup.subtree_control
mkdir $D $SESSION $SVC $BUSY
delegate $D; delegate $SVC; delegate $BUSY
# What the user's systemd (running as the user) creates inside its delegated cgroup.
mkdir $D/init.scope $APP $TERM_SCOPE $RUN_SCOPE
chown -R 1000:1000 $D/init.scope $APP
# Processes that stand for the user manager, the user's shell, a service's other process.
start_in() { sh -c 'echo $$ > "$0/cgroup.procs" && exec su user -c "exec sleep 100000"' "$1" & }
start_in $D/init.scope
start_in $TERM_SCOPE
start_in $BUSY
sleep 0.3

# --- helpers ---------------------------------------------------------------------------------
FAILED=0
RC=-
ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; FAILED=$((FAILED + 1)); echo "#   exit $RC; stdout: $(head -c 600 $OUT | tr '\n' '|')"; echo "#   stderr: $(head -c 800 $ERR | tr '\n' '|')"; }
# nook_in CGROUP ARGS...: runs `nook ARGS` as the user, started from CGROUP; sets RC, OUT and ERR hold the output.
nook_in() {
  cg=$1; shift
  timeout 120 sh -c 'echo $$ > "$0/cgroup.procs" && exec su user -c "exec nook $*"' "$cg" "$@" >$OUT 2>$ERR </dev/null
  RC=$?
  return $RC
}
run_in() { cg=$1; shift; nook_in "$cg" run --rootfs $ROOTFS "$@"; }
# The container cgroups nook left behind anywhere (none, after every run).
leftovers() { find $CG -type d -name 'nook-*' 2>/dev/null | tr '\n' ' '; }
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ -e "$1" ]; }
container_cgroup() { ls -d ${1:-$APP}/nook-* 2>/dev/null | grep -v supervisor | head -1; }
usage_usec() { sed -n 's/^usage_usec //p' "$1/cpu.stat"; }
uptime_cs() { read -r up _ </proc/uptime; echo "${up%.*}${up#*.}"; }

# --- tests ------------------------------------------------------------------------------------
t=limits-written
rm -f $ROOTFS/tmp/go $ROOTFS/tmp/up
run_in $TERM_SCOPE --memory 32m --memory-swap 48m --cpus 0.5 --cpu-shares 512 --pids-limit 10 --blkio-weight 500 \
  -- sh -c "'touch /tmp/up; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo inside'" &
bg=$!
if wait_for $ROOTFS/tmp/up; then
  c=$(container_cgroup)
  got="parent=${c%/*} memory.max=$(cat $c/memory.max) memory.swap.max=$(cat $c/memory.swap.max) cpu.max=$(cat $c/cpu.max)"
  got="$got cpu.weight=$(cat $c/cpu.weight) pids.max=$(cat $c/pids.max) io.weight=$(head -1 $c/io.weight) populated=$(sed -n 's/^populated //p' $c/cgroup.events)"
fi
touch $ROOTFS/tmp/go
wait $bg
RC=$?
want="parent=$APP memory.max=33554432 memory.swap.max=16777216 cpu.max=50000 100000 cpu.weight=20 pids.max=10 io.weight=default 4950 populated=1"
if [ "${got:-}" = "$want" ] && [ $RC = 0 ] && grep -q inside $OUT; then ok $t; else notok $t "got [${got:-nothing}], want [$want]"; fi
echo "#   $got"

t=own-cgroup-namespace
# Inside, the container's cgroup is the root of its cgroup namespace, mounted (read-only) on /sys/fs/cgroup with its limits.
run_in $TERM_SCOPE --memory 32m --pids-limit 10 -- sh -c "'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; echo 1 > /sys/fs/cgroup/pids.max 2>/dev/null || echo read-only'"
got=$(tr '\n' ' ' < $OUT)
if [ $RC = 0 ] && [ "$got" = "0::/ 33554432 10 read-only " ]; then ok $t; else notok $t "got [$got], want [0::/ 33554432 10 read-only ]"; fi

t=oom-kill-exits-137
run_in $TERM_SCOPE --memory 32m -- dd if=/dev/zero of=/dev/null bs=100M count=1
msg='nook: the container was killed: out of memory (--memory limit reached)'
if [ $RC = 137 ] && grep -qxF "$msg" $ERR; then ok $t; else notok $t "want exit 137 and \"$msg\""; fi

t=oom-without-limit-hit
run_in $TERM_SCOPE --memory 128m -- dd if=/dev/zero of=/dev/null bs=16M count=1
if [ $RC = 0 ] && ! grep -q 'out of memory' $ERR; then ok $t; else notok $t "a 16 MB allocation under --memory 128m must just work"; fi

t=pids-limit-11th-fails
# sh is process 1 of 10: nine children start, the next fork fails with EAGAIN.
run_in $TERM_SCOPE --pids-limit 10 -- sh -c "'n=0; while [ \$n -lt 15 ]; do sleep 30 & n=\$((n+1)); echo started \$n; done'"
last=$(tail -1 $OUT)
if [ "$last" = "started 9" ] && grep -q "can't fork: Resource temporarily unavailable" $ERR; then ok $t; else notok $t "want 9 children started, then EAGAIN"; fi

# --cpus: a busy loop's CPU use over 3 s (cpu.stat usage_usec of its cgroup, against the guest's clock).
cpu_share() { # prints per-mille of one CPU
  rm -f $ROOTFS/tmp/go $ROOTFS/tmp/up
  run_in $TERM_SCOPE "$@" -- sh -c "'touch /tmp/up; while [ ! -e /tmp/go ]; do :; done'" &
  bg=$!
  share=-1
  if wait_for $ROOTFS/tmp/up; then
    c=$(container_cgroup)
    sleep 0.5
    u0=$(usage_usec $c); t0=$(uptime_cs)
    sleep 3
    u1=$(usage_usec $c); t1=$(uptime_cs)
    share=$(( (u1 - u0) / ((t1 - t0) * 10) ))
  fi
  touch $ROOTFS/tmp/go
  wait $bg
  echo $share
}
t=cpus-half
limited=$(cpu_share --cpus 0.5)
free=$(cpu_share --pids-limit 100)
echo "#   busy loop: ${limited}‰ of a CPU with --cpus 0.5, ${free}‰ without a CPU limit"
# The bound that matters is the upper one; the lower ones leave room for a busy host starving the emulated CPUs.
if [ $limited -ge 300 ] && [ $limited -le 600 ] && [ $free -ge 750 ]; then ok $t; else RC=- notok $t "want 300..600‰ limited, >= 750‰ free"; fi

t=cgroup-removed-after-exit
left=$(leftovers)
if [ -z "$left" ] && [ -z "$(ls -d $APP/nook-* 2>/dev/null)" ]; then ok $t; else RC=- notok $t "left behind: $left"; fi

t=leaf-in-delegated-scope
# nook alone in a delegated scope: it moves into a leaf there, the container's cgroup goes beside it, both inside the scope.
rm -f $ROOTFS/tmp/go $ROOTFS/tmp/up
run_in $RUN_SCOPE --memory 64m -- sh -c "'touch /tmp/up; while [ ! -e /tmp/go ]; do sleep 0.1; done'" &
bg=$!
got=nothing
if wait_for $ROOTFS/tmp/up; then
  c=$(container_cgroup $RUN_SCOPE)
  got="container=${c#$RUN_SCOPE/} memory.max=$(cat $c/memory.max) nook-in=$(cat $RUN_SCOPE/nook-*-supervisor/cgroup.procs | wc -l) scope-procs=$(wc -l <$RUN_SCOPE/cgroup.procs)"
  got=$(echo "$got" | sed 's/nook-[0-9a-f]*/nook-ID/')
fi
touch $ROOTFS/tmp/go
wait $bg
RC=$?
after="subtree_control=[$(cat $RUN_SCOPE/cgroup.subtree_control)] children=[$(find $RUN_SCOPE -mindepth 1 -type d | tr '\n' ' ')]"
want="container=nook-ID memory.max=67108864 nook-in=1 scope-procs=0"
if [ "$got" = "$want" ] && [ $RC = 0 ] && [ "$after" = "subtree_control=[] children=[]" ]; then ok $t; else notok $t "got [$got] then [$after], want [$want] then an empty scope"; fi

t=leaf-mode-delegated-service
# nook alone in a delegated cgroup whose parent is root's: it moves into a leaf, and back at exit.
run_in $SVC --pids-limit 5 -- sh -c "'cat /proc/self/cgroup; sleep 30 & sleep 30 & sleep 30 & sleep 30 & sleep 30 & echo no'"
state="subtree_control=[$(cat $SVC/cgroup.subtree_control)] children=[$(find $SVC -mindepth 1 -type d | tr '\n' ' ')]"
if grep -q "can't fork" $ERR && ! grep -q '^no' $OUT && [ "$state" = "subtree_control=[] children=[]" ]; then ok $t; else notok $t "want the 5th fork to fail and $SVC as before, got $state"; fi

t=not-delegated-error
run_in $SESSION --memory 32m -- true
if [ $RC = 125 ] && grep -q 'need a cgroup delegated to you, but nook runs in the cgroup /user.slice/user-1000.slice/session-1.scope, which belongs to root' $ERR \
  && grep -q 'systemd-run --user --scope -p Delegate=yes' $ERR; then ok $t; else notok $t "want exit 125 naming the session scope and systemd-run"; fi

t=no-limits-no-cgroup
run_in $SESSION -- sh -c "'echo hi'"
if [ $RC = 0 ] && [ "$(cat $OUT)" = hi ] && [ ! -s $ERR ]; then ok $t; else notok $t "without limit flags nook must run silently anywhere"; fi

t=crowded-delegated-cgroup-error
run_in $BUSY --pids-limit 5 -- true
if [ $RC = 125 ] && grep -q '1 other process shares it' $ERR; then ok $t; else notok $t "want exit 125 about the no-internal-processes rule"; fi

t=controller-missing-error
run_in $SVC --blkio-weight 500 -- true
if [ $RC = 125 ] && grep -q 'controller io (for --blkio-weight) is not delegated to you: your cgroup /system.slice/ci.service offers cpu memory pids' $ERR \
  && grep -q 'Delegate=cpu cpuset io memory pids' $ERR; then ok $t; else notok $t "want exit 125 naming io and the Delegate= drop-in"; fi

t=systemd-manager-not-supported
run_in $TERM_SCOPE --cgroup-manager systemd --memory 32m -- true
if [ $RC = 125 ] && grep -q 'cgroup-manager systemd is not supported yet' $ERR; then ok $t; else notok $t "want exit 125"; fi

t=cgroup-v1-hybrid-error
# The same user, in a mount namespace where /sys/fs/cgroup looks like a cgroup v1 hybrid host.
timeout 120 unshare -m sh -c '
  mount --make-rprivate / && mount -t tmpfs tmpfs /sys/fs/cgroup && mkdir /sys/fs/cgroup/unified /sys/fs/cgroup/systemd &&
  mount -t cgroup2 none /sys/fs/cgroup/unified && mount -t cgroup -o none,name=systemd none /sys/fs/cgroup/systemd &&
  exec su user -c "exec nook run --rootfs /rootfs --memory 32m -- true"' >$OUT 2>$ERR </dev/null
RC=$?
if [ $RC = 125 ] && grep -q 'need cgroup v2, but this host uses cgroup v1 (a hybrid setup' $ERR && grep -q 'systemd.unified_cgroup_hierarchy=1' $ERR; then ok $t; else notok $t "want exit 125 naming cgroup v1"; fi

t=pause-unpause-stats
# nook pause/unpause: the container's own cgroup's freezer; ps shows it paused; stats reads the cgroup's counters.
nook_in $TERM_SCOPE run -d --name frz --rootfs $ROOTFS --pids-limit 100 --memory 64m -- sh -c "'while true; do sleep 0.05; done'"
c=$(container_cgroup)
nook_in $TERM_SCOPE pause frz; p1=$RC
frozen=$(sed -n 's/^frozen //p' $c/cgroup.events)
nook_in $TERM_SCOPE ps --format "'{{.Names}} {{.State}} {{.Status}}'"; st=$(cat $OUT)
nook_in $TERM_SCOPE stats --no-stream --format "'{{.Name}} {{.PIDs}} {{.MemUsage}}'" frz; s1=$RC; stats=$(cat $OUT)
nook_in $TERM_SCOPE unpause frz; p2=$RC
thawed=$(sed -n 's/^frozen //p' $c/cgroup.events)
nook_in $TERM_SCOPE rm -f frz
got="pause=$p1 frozen=$frozen ps=[$st] stats=$s1 unpause=$p2 thawed=$thawed"
case "$got" in
  "pause=0 frozen=1 ps=[frz paused Up "*" (Paused)] stats=0 unpause=0 thawed=0") case "$stats" in "frz "[1-9]*" / 64MiB") ok $t ;; *) notok $t "stats: [$stats]" ;; esac ;;
  *) notok $t "got [$got]" ;;
esac
echo "#   $got; stats [$stats]"

t=nothing-left-behind
left=$(leftovers)
if [ -z "$left" ]; then ok $t; else RC=- notok $t "left behind: $left"; fi

exit $FAILED
