#!/bin/bash
# test/openzfs/vm.sh — a throwaway QEMU guest running a Debian build of OpenZFS on bookworm's 6.1
# kernel, for the OpenZFS tier of the tests (resume tokens, bookmarks, zvols, `-p` listings: what
# zfs-fuse lacks). Nothing here touches /etc/apt or the host's pools.
#
#   vm.sh build CACHE [SERIES]    build once (idempotent): kernel, initramfs and a root image with
#                                 zfs.ko, zfsutils-linux and openssh-server. SERIES is 2.1 (bookworm's
#                                 OpenZFS, the default) or 2.3 (bookworm-backports contrib: the module
#                                 is built from its zfs-dkms and the guest's userland comes from
#                                 backports). About 8 minutes on 2 cores each. Keep CACHE outside the
#                                 clone, one per series, so later runs reuse it.
#   vm.sh boot CACHE SHARE PORT   boot the guest; SHARE is mounted (virtio-9p) at /mnt/share and
#                                 SHARE/guest.sh runs as root; the guest's port 22 is forwarded
#                                 from 127.0.0.1:PORT and the guest reaches nothing else. Exits with
#                                 guest.sh's exit code. The root image is used as a snapshot, so
#                                 every boot starts clean.
#
# Host packages: qemu-system-x86 qemu-utils debootstrap cpio, plus gcc, make and e2fsprogs.
# Environment: BZMAN_VM_MIRROR / BZMAN_VM_SECURITY_MIRROR (default: the mirrors apt uses here),
# BZMAN_VM_KABI (a kernel ABI such as 6.1.0-41-amd64; default: the one linux-image-amd64 names),
# BZMAN_VM_MEM (MiB, 2048), BZMAN_VM_TIMEOUT (seconds, 1800).
set -euo pipefail

# Bumped whenever what `build` makes changes: a cache built by another recipe is built again.
RECIPE=2

say() { printf 'openzfs-vm %s: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { say "error: $*"; exit 1; }

# The mirror URI apt is configured with for a suite (deb822 sources, then a one-line list).
mirror_for() {
  local suite=$1 uri
  uri=$(awk -v s="$suite" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if ($i==s) {print u; exit}}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$uri" ] || uri=$(awk -v s="$suite" '$1=="deb" {for(i=2;i<=NF;i++) if ($i==s) {print $(i-1); exit}}' \
    /etc/apt/sources.list 2>/dev/null | head -1)
  printf '%s' "$uri"
}

# apt-get / apt-cache on a private list and cache below the build directory.
private_apt() {
  local tool=$1; shift
  "$tool" -o Dir::Etc::SourceList="$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache::Archives="$APT_DIR/archives" \
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root "$@"
}

# Installs zfsutils-linux $3 from bookworm-backports into the guest root $1 with the guest's own
# apt (services never start: policy-rc.d), then empties its package lists again.
guest_userland_from_backports() {
  local root=$1 mirror=$2 zver=$3
  say "guest userland: zfsutils-linux $zver from bookworm-backports"
  printf 'deb %s bookworm main contrib\ndeb %s bookworm-backports main contrib\n' "$mirror" "$mirror" > "$root/etc/apt/sources.list"
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 0755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  local rc=0
  { chroot "$root" apt-get -qq update &&
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports "zfsutils-linux=$zver"; } > "$root/../backports.log" 2>&1 || rc=$?
  umount "$root/proc"
  rm -f "$root/usr/sbin/policy-rc.d"
  [ "$rc" = 0 ] || { tail -20 "$root/../backports.log" >&2; fail "installing zfsutils-linux $zver in the guest failed"; }
}

build() {
  local cache series_want=${2:-2.1}; cache=$(realpath -m "$1")
  case "$series_want" in 2.1 | 2.3) ;; *) fail "unknown OpenZFS series $series_want (2.1 or 2.3)" ;; esac
  mkdir -p "$cache"
  if grep -qs "^recipe $RECIPE, .* OpenZFS $series_want\." "$cache/BUILT"; then say "already built: $(cat "$cache/BUILT")"; return 0; fi
  rm -f "$cache/BUILT" "$cache/vmlinuz" "$cache/initrd.gz" "$cache/root.img"
  [ "$(id -u)" = 0 ] || fail "building the guest needs root (debootstrap, chroot)"
  local tool
  for tool in qemu-system-x86_64 debootstrap cpio mke2fs gcc make strip dpkg-deb; do
    command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install qemu-system-x86 qemu-utils debootstrap cpio)"
  done
  local mirror=${BZMAN_VM_MIRROR:-$(mirror_for bookworm)}
  local security=${BZMAN_VM_SECURITY_MIRROR:-$(mirror_for bookworm-security)}
  [ -n "$mirror" ] || fail "no bookworm mirror found in apt's sources; set BZMAN_VM_MIRROR"
  local started; started=$(date +%s)
  local work=$cache/build
  rm -rf "$work"; mkdir -p "$work/debs"
  APT_DIR=$work/apt
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "deb [signed-by=$keyring] $mirror bookworm main contrib"
    echo "deb [signed-by=$keyring] $mirror bookworm-updates main contrib"
    [ -z "$security" ] || echo "deb [signed-by=$keyring] $security bookworm-security main contrib"
    [ "$series_want" = 2.1 ] || echo "deb [signed-by=$keyring] $mirror bookworm-backports main contrib"
  } > "$APT_DIR/sources.list"

  say "package lists (main and contrib, private)"
  private_apt apt-get -qq update
  local kabi=${BZMAN_VM_KABI:-}
  [ -n "$kabi" ] || kabi=$(private_apt apt-cache depends linux-image-amd64 |
    awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {sub(/^linux-image-/, "", $2); print $2; exit}')
  [ -n "$kabi" ] || fail "cannot tell which kernel linux-image-amd64 names"
  local kver zver series
  kver=$(private_apt apt-cache show "linux-image-$kabi" | awk '$1=="Version:" {print $2; exit}')
  if [ "$series_want" = 2.1 ]; then
    zver=$(private_apt apt-cache policy zfs-dkms | awk '$1=="Candidate:" {print $2}')
  else # backports is never the candidate: take its newest version of the series
    zver=$(private_apt apt-cache madison zfs-dkms | awk -F'|' -v s="$series_want" \
      '$3 ~ /bookworm-backports/ {gsub(/ /, "", $2); if (index($2, s ".") == 1) {print $2; exit}}')
  fi
  [ -n "$zver" ] || fail "no zfs-dkms of OpenZFS $series_want in the archive"
  series=$(echo "$kabi" | cut -d. -f1,2)
  say "kernel $kabi ($kver), OpenZFS $zver"

  say "downloading the kernel, its headers and the zfs-dkms sources"
  (cd "$work/debs" && private_apt apt-get -qq download "linux-image-$kabi=$kver" "linux-headers-$kabi=$kver" \
    "linux-headers-${kabi%-amd64}-common=$kver" "linux-kbuild-$series=$kver" "zfs-dkms=$zver")
  local kernel=$work/kernel headers=$work/headers zsrc=$work/zfs-dkms deb
  mkdir -p "$kernel" "$headers" "$zsrc"
  dpkg-deb -x "$work"/debs/linux-image-"$kabi"_*.deb "$kernel"
  for deb in "$work"/debs/linux-headers-*.deb "$work"/debs/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$headers"; done
  dpkg-deb -x "$work"/debs/zfs-dkms_*.deb "$zsrc"
  local hdr=$headers/usr/src
  # The flavour's Makefile includes the common tree by its installed path; point it at this copy.
  echo "include $hdr/linux-headers-${kabi%-amd64}-common/Makefile" > "$hdr/linux-headers-$kabi/Makefile"

  say "guest root file system (debootstrap minbase with zfsutils-linux $zver and openssh-server)"
  local root=$work/root include=kmod,udev,procps,iproute2,openssh-server,busybox-static
  [ "$series_want" = 2.1 ] && include=zfsutils-linux,$include
  debootstrap --variant=minbase --components=main,contrib --include="$include" \
    bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed (log: $work/debootstrap.log)"; }
  [ "$series_want" = 2.1 ] || guest_userland_from_backports "$root" "$mirror" "$zver"
  local have
  # shellcheck disable=SC2016 # ${Version} is dpkg-query's field, not the shell's
  have=$(chroot "$root" dpkg-query -W -f '${Version}' zfsutils-linux)
  [ "$have" = "$zver" ] || say "warning: the guest's zfsutils-linux is $have, the module $zver"

  say "building the OpenZFS $zver modules for $kabi (make -j$(nproc))"
  local zdir; zdir=$(echo "$zsrc"/usr/src/zfs-*)
  (cd "$zdir" && ./configure --with-config=kernel --with-linux="$hdr/linux-headers-${kabi%-amd64}-common" \
      --with-linux-obj="$hdr/linux-headers-$kabi" > "$work/configure.log" 2>&1 &&
    make -j"$(nproc)" > "$work/make.log" 2>&1) || { tail -30 "$work/configure.log" "$work/make.log" >&2; fail "building the zfs module failed"; }

  say "kernel modules into the guest (virtio, 9p, file systems, crypto, and zfs)"
  local mods=$root/lib/modules/$kabi from=$kernel/lib/modules/$kabi sub
  mkdir -p "$mods/kernel/drivers/net" "$mods/kernel/net/core" "$mods/extra"
  cp -a "$from"/modules.builtin* "$from"/modules.order "$mods/" 2>/dev/null || true
  for sub in arch crypto fs lib block drivers/virtio drivers/block drivers/char net/9p; do
    mkdir -p "$mods/kernel/$(dirname "$sub")"; cp -a "$from/kernel/$sub" "$mods/kernel/$(dirname "$sub")/"
  done
  find "$from/kernel/drivers/net" -maxdepth 1 \( -name 'virtio_net.ko*' -o -name 'net_failover.ko*' \) -exec cp {} "$mods/kernel/drivers/net/" \;
  find "$from/kernel/net/core" -maxdepth 1 -name 'failover.ko*' -exec cp {} "$mods/kernel/net/core/" \;
  find "$zdir/module" -name '*.ko' -exec sh -c 'strip --strip-debug -o "$1/${2##*/}" "$2"' _ "$mods/extra" {} \;
  chroot "$root" depmod -a "$kabi"

  install -m 0755 /dev/stdin "$root/sbin/bzman-vm-init" <<'INIT'
#!/bin/sh
# PID 1 of the test guest: mounts, loads zfs, brings up the one forwarded NIC, runs the share's
# guest.sh, records its exit code in the share and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
for d in /run /tmp /var/tmp; do mount -t tmpfs tmpfs "$d"; done
hostname openzfs-vm
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
modprobe zfs || echo "bzman-vm: modprobe zfs failed"
modprobe 9pnet_virtio; modprobe 9p; modprobe virtio_net
mkdir -p /mnt/share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share || echo "bzman-vm: no share"
# QEMU's user network: the guest is 10.0.2.15; the NIC's name depends on udev's naming rules.
ip link set lo up
n=0; while [ -z "$(ls /sys/class/net | grep -v '^lo$')" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
nic=$(ls /sys/class/net | grep -v '^lo$' | head -1)
if [ -n "$nic" ]; then
  ip link set "$nic" up && ip addr add 10.0.2.15/24 dev "$nic" && ip route add default via 10.0.2.2
else
  echo "bzman-vm: no network interface"
fi
rc=126
if [ -x /mnt/share/guest.sh ]; then (cd /mnt/share && ./guest.sh); rc=$?; else echo "bzman-vm: no guest.sh"; fi
echo "$rc" > /mnt/share/.exit-code; sync; umount /mnt/share 2>/dev/null
echo "bzman-vm: guest.sh exited $rc"
echo o > /proc/sysrq-trigger; sleep 60
INIT

  say "initramfs (busybox, virtio block, ext4)"
  local initrd=$work/initrd list="" m f
  mkdir -p "$initrd"/bin "$initrd"/proc "$initrd"/sys "$initrd"/dev "$initrd"/root "$initrd"/lib/modules
  cp "$root/bin/busybox" "$initrd/bin/busybox"
  for m in virtio_pci virtio_blk ext4; do
    for f in $(chroot "$root" modprobe -S "$kabi" --show-depends "$m" | awk '$1=="insmod" {print $2}'); do
      case " $list " in *" ${f##*/} "*) ;; *) cp "$root$f" "$initrd/lib/modules/"; list="$list ${f##*/}";; esac
    done
  done
  cat > "$initrd/init" <<EARLY
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $list; do insmod /lib/modules/\$m; done
n=0; while [ ! -b /dev/vda ] && [ \$n -lt 300 ]; do sleep 0.1; n=\$((n+1)); done
mount -t ext4 /dev/vda /root || { echo "bzman-vm: cannot mount the root image"; exec sh; }
umount /proc /sys; mount --move /dev /root/dev
exec switch_root /root /sbin/bzman-vm-init
EARLY
  chmod 0755 "$initrd/init"
  (cd "$initrd" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$cache/initrd.gz"
  cp "$kernel/boot/vmlinuz-$kabi" "$cache/vmlinuz"

  say "root image (ext4, sparse)"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
  mke2fs -q -F -t ext4 -L bzman-vm -d "$root" "$cache/root.img" 2G
  echo "recipe $RECIPE, kernel $kabi ($kver), OpenZFS $zver, built $(date -u +%FT%TZ) in $(( $(date +%s) - started )) s" > "$cache/BUILT"
  rm -rf "$work"
  say "built: $(cat "$cache/BUILT")"
}

boot() {
  local cache share port
  cache=$(realpath "$1"); share=$(realpath "$2"); port=$3
  [ -f "$cache/BUILT" ] || fail "$cache is not built (run: $0 build $cache)"
  rm -f "$share/.exit-code"
  local accel=(-accel "tcg,thread=multi" -cpu max)
  [ "${BZMAN_VM_ACCEL:-tcg}" = kvm ] && accel=(-enable-kvm -cpu host)
  local rc=0
  timeout --foreground "${BZMAN_VM_TIMEOUT:-1800}" qemu-system-x86_64 "${accel[@]}" \
    -m "${BZMAN_VM_MEM:-2048}" -smp 2 -nographic -no-reboot -snapshot \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
    -drive "file=$cache/root.img,format=raw,if=virtio" \
    -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
    -nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" || rc=$?
  [ "$rc" = 0 ] || fail "qemu exited with $rc (124: timed out)"
  [ -f "$share/.exit-code" ] || fail "the guest did not report an exit code"
  exit "$(cat "$share/.exit-code")"
}

case "${1:-}" in
  build) build "${2:?CACHE}" "${3:-2.1}" ;;
  boot) boot "${2:?CACHE}" "${3:?SHARE}" "${4:?PORT}" ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
