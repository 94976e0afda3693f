#!/bin/bash
# Builds what the OCI runtime-tools validation suite needs into
# build/oci-validation/ (only what is missing there, so a second run costs
# nothing; `rm -rf build/oci-validation` forces a rebuild):
#
#   runtimetest           the static checker the suite copies into each bundle
#   NAME.t                one program per validation/NAME (58 of them)
#   rootfs-amd64.tar.gz   the bundle's root filesystem: busybox-static and its
#                         applet links, and /runtimetest, made here (the suite's upstream fetches
#                         a busybox image; this machine has no network)
#
# The sources: Debian's golang-github-opencontainers-runtime-tools-dev ships the
# library packages (generate, specerror, cgroups, ...) but not validation/ nor
# cmd/runtimetest, so those are kept in test/oci-suite/gopath/ at the commit
# Debian packaged (0105384, "0.9.0+git20220423"), with github.com/mndrix/tap-go
# (629fa40, the version runtime-tools' go.mod names; not packaged in Debian).
# Everything else comes from Debian's golang-*-dev packages under
# /usr/share/gocode, built in GOPATH mode (GO111MODULE=off): no downloads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/oci-validation
src=$here/gopath/src/github.com/opencontainers/runtime-tools

command -v go >/dev/null || { echo "build.sh: go is missing: apt-get install golang-go" >&2; exit 2; }
[ -d /usr/share/gocode/src/github.com/opencontainers/runtime-tools/generate ] ||
  { echo "build.sh: apt-get install golang-github-opencontainers-runtime-tools-dev" >&2; exit 2; }

mkdir -p "$out"
# build/ holds tracked build scripts, so this directory ignores itself.
[ -f "$out/.gitignore" ] || echo '*' > "$out/.gitignore"

export GO111MODULE=off GOFLAGS= GOPATH="$here/gopath:/usr/share/gocode" GOCACHE="$out/.gocache"
export GOTOOLCHAIN=local GOPROXY=off
cd "$src"

# Static (no cgo, Go's own resolver and user lookup): it runs inside a busybox rootfs.
if [ ! -x "$out/runtimetest" ]; then
  echo "build.sh: building runtimetest" >&2
  CGO_ENABLED=0 go build -tags "netgo osusergo" -o "$out/runtimetest.tmp$$" ./cmd/runtimetest
  mv "$out/runtimetest.tmp$$" "$out/runtimetest"
fi

for dir in validation/*/; do
  name=$(basename "$dir")
  [ "$name" = util ] && continue
  [ -x "$out/$name.t" ] && continue
  echo "build.sh: building $name.t" >&2
  go build -o "$out/$name.t.tmp$$" "./validation/$name"
  mv "$out/$name.t.tmp$$" "$out/$name.t"
done

# util.PrepareBundle untars rootfs-$GOARCH.tar.gz from the working directory
# straight into the bundle directory (config.json's root.path is ".").
rootfs_tar=$out/rootfs-amd64.tar.gz
if [ ! -f "$rootfs_tar" ]; then
  busybox=/bin/busybox
  [ -x "$busybox" ] && "$busybox" --list-full >/dev/null 2>&1 ||
    { echo "build.sh: a static busybox is missing: apt-get install busybox-static" >&2; exit 2; }
  if command -v file >/dev/null && ! file -L "$busybox" | grep -q 'statically linked'; then
    echo "build.sh: $busybox is not static (install busybox-static)" >&2; exit 2
  fi
  echo "build.sh: making $(basename "$rootfs_tar") from $busybox" >&2
  tree=$(mktemp -d "$out/rootfs.XXXXXX")
  chmod 755 "$tree"   # it becomes the container's /: mktemp made it 0700
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,home,var,run}
  chmod 1777 "$tree/tmp"
  cp "$busybox" "$tree/bin/busybox"
  # One symlink per applet, where busybox itself would install it.
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
  done < <("$busybox" --list-full)
  # Most programs copy runtimetest into the bundle (= the rootfs) themselves;
  # misc_props runs the default /runtimetest without doing so, so it is there
  # from the start (a program that copies it overwrites this one).
  cp "$out/runtimetest" "$tree/runtimetest"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$tree/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$tree/etc/group"
  # Owned by root, numerically: under a user namespace that is whoever maps to 0.
  tar -C "$tree" --numeric-owner --owner=0 --group=0 -czf "$rootfs_tar.tmp$$" .
  mv "$rootfs_tar.tmp$$" "$rootfs_tar"
fi
