#!/usr/bin/env bash
# The cgroup v2 tests, in a VM: this project's machines are cgroup v1 hosts,
# so resource limits can only be seen at work under another kernel.
#
# Boots Debian's kernel (linux-image-amd64, fetched with `apt-get download`
# and unpacked, never installed) under qemu's software emulation with an
# initramfs holding busybox, build/nook with the glibc it needs, a busybox
# rootfs, and test/vm/{init,tests.sh}. The guest's /init mounts a pure cgroup2
# hierarchy, delegates a subtree to user 1000 as systemd would, runs the tests
# as that user and powers off; results come back on the second serial port.
# Prints one "ok"/"not ok" line per test and a closing "N passed, N failed";
# exits non-zero on any failure.
#
# Env: NOOK_BIN (default build/nook), VM_CACHE (default build/vm-cache, keeps
# the kernel between runs), VM_TIMEOUT (seconds for the whole VM, default 420).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
nook=${NOOK_BIN:-$repo/build/nook}
cache=${VM_CACHE:-$repo/build/vm-cache}
vm_timeout=${VM_TIMEOUT:-420}
start=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { since "$start"; }
die() { echo "vm: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

for tool in qemu-system-x86_64 cpio dpkg-deb xz apt-get ldd; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install qemu-system-x86 cpio xz-utils)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"
[ -x "$nook" ] || die "$nook is missing: run make first"
mkdir -p "$cache"

# --- the kernel: Debian's current linux-image-amd64, unpacked once into the cache ---------------
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !n++ { print $2 }')
if [ -z "$kernel_pkg" ]; then
  # No package lists (no `apt-get update` yet): use a kernel already in the cache.
  kernel_pkg=$(ls "$cache" 2>/dev/null | sed -n 's/^vmlinux-\(linux-image-.*\)$/\1/p' | tail -1)
  [ -n "$kernel_pkg" ] || die "cannot resolve linux-image-amd64: run apt-get update"
fi
vmlinux=$cache/vmlinux-$kernel_pkg
if [ ! -s "$vmlinux" ]; then
  echo "vm: fetching $kernel_pkg"
  (cd "$cache" && ls "${kernel_pkg}"_*.deb >/dev/null 2>&1 || timeout 600 apt-get download -q "$kernel_pkg" 2>&1 | grep -v 'unsandboxed' || true)
  deb=$(ls "$cache/${kernel_pkg}"_*.deb 2>/dev/null | tail -1)
  [ -n "$deb" ] || die "apt-get download $kernel_pkg failed"
  tmp=$(mktemp -d "$cache/unpack.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  dpkg-deb -x "$deb" "$tmp"
  vmlinuz=$(ls "$tmp"/boot/vmlinuz-* | head -1)
  # Boot the uncompressed kernel: decompressing it under emulation alone costs seconds.
  # Debian's bzImage holds an xz stream; find it and unpack it.
  offset=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1)
  [ -n "$offset" ] || die "no xz stream in $vmlinuz"
  tail -c +$((offset + 1)) "$vmlinuz" | xz -dc --single-stream >"$tmp/vmlinux" 2>/dev/null || true
  head -c 4 "$tmp/vmlinux" | grep -q ELF || die "could not extract vmlinux from $vmlinuz"
  rm -f "$cache"/vmlinux-linux-image-* # an older kernel's
  mv "$tmp/vmlinux" "$vmlinux"
  rm -rf "$tmp" "$deb"
  trap - EXIT
fi

# --- the initramfs: busybox, nook and its libraries, the test rootfs, the tests ---------------
stage=$(mktemp -d "$cache/initramfs.XXXXXX")
out=$(mktemp -d "$cache/run.XXXXXX")
cleanup() { rm -rf "$stage" "$out"; }
trap cleanup EXIT
chmod 0755 "$stage" # the unprivileged user must be able to reach everything

applets=$(/bin/busybox --list | grep -v '^busybox$')
mkdir -p "$stage"/{bin,usr/local/bin,etc,proc,sys,dev,tmp,home/user,vm,rootfs}
cp /bin/busybox "$stage/bin/busybox"
for a in $applets; do ln -s busybox "$stage/bin/$a"; done
cp test/vm/init "$stage/init"
cp "${VM_TESTS:-test/vm/tests.sh}" "$stage/vm/tests.sh"
chmod 0755 "$stage/init"
cp "$nook" "$stage/usr/local/bin/nook"

# glibc and friends for nook (a Node single executable) and for the native parts it unpacks.
libs() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true; }
for lib in $( { libs /bin/busybox; libs "$nook"; libs build/out/libnook-exec.so; libs node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node; } | sort -u); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done

cat >"$stage/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
EOF
printf 'root:x:0:\nuser:x:1000:\n' >"$stage/etc/group"

# The containers' root: a busybox tree like the integration tests' rootfs.
r=$stage/rootfs
mkdir -p "$r"/{bin,etc,proc,dev,sys,tmp,root,home/user}
cp /bin/busybox "$r/bin/busybox"
for a in $applets; do ln -s busybox "$r/bin/$a"; done
cp "$stage/etc/passwd" "$stage/etc/group" "$r/etc/"

initrd=$out/initrd.cpio
(cd "$stage" && find . -mindepth 1 | cpio --quiet -o -H newc -R 0:0 >"$initrd")
rm -rf "$stage"
echo "vm: initramfs $(du -m "$initrd" | cut -f1) MB, kernel $kernel_pkg; prepared in $(elapsed) s"

# --- boot ---------------------------------------------------------------------------------------
: >"$out/results"
boot_start=$(date +%s.%N)
# The guest's own watchdog on tests.sh ends before qemu's, so that a hung test still reports the others.
guest_timeout=$((vm_timeout > 60 ? vm_timeout - 30 : vm_timeout / 2))
set +e
# No network device, no disk; -no-reboot turns the guest's poweroff (or a panic) into qemu's exit.
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 \
  -M q35 -accel tcg,thread=multi -cpu max -smp 2 -m 1024 \
  -nodefaults -no-user-config -display none -no-reboot -net none \
  -kernel "$vmlinux" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 quiet loglevel=2 VM_TEST_TIMEOUT=$guest_timeout" \
  -serial "file:$out/console" -serial "file:$out/results" </dev/null
qemu_status=$?
set -e
boot_secs=$(since "$boot_start")

tr -d '\r' <"$out/results" | grep -E '^(ok|not ok|#) ' || true
passed=$(tr -d '\r' <"$out/results" | grep -c '^ok ' || true)
failed=$(tr -d '\r' <"$out/results" | grep -c '^not ok ' || true)
if ! tr -d '\r' <"$out/results" | grep -qx done; then
  echo "vm: the guest did not finish (qemu exit $qemu_status after $boot_secs s); its console:"
  tr -d '\r' <"$out/console" | tail -40
  failed=$((failed + 1))
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then echo "vm: no test ran"; failed=1; fi
# tests.sh exits with its number of failures: anything else (its watchdog, a crash) is a failure of its own.
tests_status=$(tr -d '\r' <"$out/results" | sed -n 's/^# tests.sh exited \([0-9]*\),.*/\1/p')
if [ -n "$tests_status" ] && [ "$tests_status" -ne "$(tr -d '\r' <"$out/results" | grep -c '^not ok ' || true)" ]; then
  echo "vm: tests.sh ended early (exit $tests_status: 143 is its watchdog, VM_TIMEOUT)"; failed=$((failed + 1))
fi
echo "vm: qemu ran $boot_secs s (boot, tests, poweroff); $(elapsed) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
