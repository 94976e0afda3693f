#!/usr/bin/env bash
# Makes sure this host has what the tests need: the Debian packages listed in
# test/deps.txt, and package lists from which test/vm/run.sh can resolve
# Debian's kernel. Run by `make test` (and so by .ci/run) before the tests.
#
# Nothing missing: says nothing, changes nothing. As root: `apt-get update`
# once, then `apt-get install` of exactly the missing packages. As another
# user: prints the command to run as root and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "test/setup-host.sh: not a Debian-like system; install the equivalents of test/deps.txt yourself" >&2
  exit 0
fi

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' test/deps.txt)
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done

# test/vm/run.sh fetches Debian's kernel with `apt-get download`, which needs
# package lists; a kernel it already unpacked into build/vm-cache will do too.
kernel_known() {
  apt-cache depends linux-image-amd64 2>/dev/null | grep -q 'Depends: linux-image-[0-9]' ||
    ls build/vm-cache/vmlinux-linux-image-* >/dev/null 2>&1
}
need_lists=0
if [ "$(uname -m)" = x86_64 ] && ! kernel_known; then need_lists=1; fi

[ ${#missing[@]} -eq 0 ] && [ "$need_lists" = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  {
    echo "make test needs Debian packages this host lacks. As root, run:"
    echo
    if [ ${#missing[@]} -gt 0 ]; then
      echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    else
      echo "  apt-get update    # package lists, from which the VM tests fetch Debian's kernel"
    fi
    echo
    echo "then run make test again (test/deps.txt says what each package is for)."
  } >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "test/setup-host.sh: apt-get update${missing[*]:+, then installing: ${missing[*]}}"
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
