#!/usr/bin/env bash
# `make demo`: one sandboxed command, no network and no image needed: the
# host's own / as a read-only rootfs, seen from new namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd='echo "inside: pid $$, user $(id -u), hostname $(hostname)"; echo "processes visible: $(ls /proc | grep -c "^[0-9]")"; echo "network interfaces: $(ls /sys/class/net | tr "\n" " ")"; touch /etc/nook-demo 2>/dev/null || echo "/ is read-only"'
echo "\$ nook run --rootfs / --read-only -h demo -- sh -c '...'"
exec build/nook run --rootfs / --read-only -h demo -- sh -c "$cmd"
