#!/bin/bash
# Builds podman's system-test image (quay.io/libpod/testimage:20220615, see
# podman's test/system/build-testimage) with nook, offline: Debian's static
# busybox in alpine's layout instead of alpine 3.16 plus busybox-extras.
# Usage: testimage.sh NOOK   (as the user whose store gets the image)
set -euo pipefail
nook=${1:?usage: testimage.sh NOOK}
tag=${PODMAN_TEST_IMAGE_TAG:-20220615}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
r=$ctx/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,home/podman,dev,proc,sys,run,mnt,srv,opt,var/log}
chmod 1777 "$r/tmp" "$r/var/tmp"
chmod 700 "$r/root"
cp /bin/busybox "$r/bin/busybox"
# Alpine's applet layout: busybox --list-full gives each applet's directory.
/bin/busybox --list-full | while read -r p; do
  [ "$p" = bin/busybox ] && continue
  mkdir -p "$r/$(dirname "$p")"
  ln -sf /bin/busybox "$r/$p"
done
ln -sf /bin/busybox "$r/bin/busybox-extras"
# Alpine's busybox has printenv (Debian's lacks the applet): a shim with its behaviour.
cat > "$r/usr/bin/printenv" <<'S'
#!/bin/sh
[ $# = 0 ] && exec env
rc=0
for v; do eval "[ \"\${$v+x}\" ]" && eval "echo \"\$$v\"" || rc=1; done
exit $rc
S
chmod 755 "$r/usr/bin/printenv"
# As alpine-baselayout's.
ln -s ../proc/mounts "$r/etc/mtab"
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/mail:/sbin/nologin
news:x:9:13:news:/usr/lib/news:/sbin/nologin
uucp:x:10:14:uucp:/var/spool/uucppublic:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
man:x:13:15:man:/usr/man:/sbin/nologin
postmaster:x:14:12:postmaster:/var/mail:/sbin/nologin
cron:x:16:16:cron:/var/spool/cron:/sbin/nologin
ftp:x:21:21::/var/lib/ftp:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
at:x:25:25:at:/var/spool/cron/atjobs:/sbin/nologin
squid:x:31:31:Squid:/var/cache/squid:/sbin/nologin
xfs:x:33:33:X Font Server:/etc/X11/fs:/sbin/nologin
games:x:35:35:games:/usr/games:/sbin/nologin
cyrus:x:85:12::/usr/cyrus:/sbin/nologin
vpopmail:x:89:89::/var/vpopmail:/sbin/nologin
ntp:x:123:123:NTP:/var/empty:/sbin/nologin
smmsp:x:209:209:smmsp:/var/spool/mqueue:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
P
cat > "$r/etc/group" <<'G'
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin,adm
adm:x:4:root,adm,daemon
tty:x:5:
disk:x:6:root,adm
lp:x:7:lp
mem:x:8:
kmem:x:9:
wheel:x:10:root
floppy:x:11:root
mail:x:12:mail
news:x:13:news
uucp:x:14:uucp
man:x:15:man
cron:x:16:cron
console:x:17:
audio:x:18:
cdrom:x:19:
dialout:x:20:root
ftp:x:21:
sshd:x:22:
input:x:23:
at:x:25:at
tape:x:26:root
video:x:27:root
netdev:x:28:
readproc:x:30:
squid:x:31:squid
xfs:x:33:xfs
kvm:x:34:kvm
games:x:35:
shadow:x:42:
cdrw:x:80:
www-data:x:82:
usb:x:85:
vpopmail:x:89:
users:x:100:games
ntp:x:123:
nofiles:x:200:
smmsp:x:209:smmsp
locate:x:245:
abuild:x:300:
utmp:x:406:
ping:x:999:
nogroup:x:65533:
nobody:x:65534:
G
printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.0\nPRETTY_NAME="Alpine Linux v3.16"\n' > "$r/etc/os-release"
echo 3.16.0 > "$r/etc/alpine-release"
printf '/bin/sh\n/bin/ash\n' > "$r/etc/shells"
# alpine-baselayout's /etc/services (abridged): 140-diff.bats removes it.
printf 'ftp\t\t21/tcp\nssh\t\t22/tcp\ntelnet\t\t23/tcp\nsmtp\t\t25/tcp\tmail\ndomain\t\t53/tcp\ndomain\t\t53/udp\nhttp\t\t80/tcp\twww\nntp\t\t123/udp\nhttps\t\t443/tcp\n' > "$r/etc/services"
echo "$tag" > "$r/home/podman/testimage-id"
touch --date=@1600000000 "$r/home/podman/testimage-id"
cat > "$r/home/podman/pause" <<'S'
#!/bin/sh
echo Confirmed: testimage pause invoked as $0
while :; do
    sleep 0.1
done
S
chmod 755 "$r/home/podman/pause"
tar -C "$r" --numeric-owner --owner=0 --group=0 -cf "$ctx/rootfs.tar" .
cat > "$ctx/Containerfile" <<C
FROM scratch
ADD rootfs.tar /
LABEL created_by=test/system/build-testimage
LABEL created_at=2022-06-15T00:00:00Z
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /home/podman
CMD ["/bin/echo", "This container is intended for podman CI testing"]
C
"$nook" build -q -t "quay.io/libpod/testimage:$tag" -f "$ctx/Containerfile" "$ctx"
