#!/usr/bin/env bash
# Builds (or finds cached) the cgroup v2 + AppArmor test guest, as root, and prints its folder:
#
#   scripts/vm/build-image.sh        # about 3 minutes cold; instant when cached
#
# The guest is Debian 12 (bookworm) with Debian's own kernel, containerd 1.6 and runc 1.1,
# booted by scripts/vm/run-tests.sh under QEMU. Nothing of the host's boot, cgroups or
# network is touched: the kernel package is only unpacked (`dpkg-deb -x`), the root file
# system is a debootstrap tree made into an ext4 image (`mkfs.ext4 -d`), and the venv is
# built by `chroot` inside a private mount namespace from the wheelhouse that
# scripts/compose-env.sh makes (requirements.lock fetched for CPython 3.11).
#
# Cached under /var/cache/moorage-vm/<hash of this script and requirements.lock>/:
# vmlinuz, initrd.img (a busybox initramfs that loads virtio and ext4, then switches to
# /dev/vda) and rootfs.img (sparse). run-tests.sh boots it with -snapshot, so the cached
# image never changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

key=$(cat scripts/vm/build-image.sh scripts/vm/guest/* requirements.lock | sha256sum | cut -c1-12)
cache=/var/cache/moorage-vm
out="$cache/$key"
if [ -f "$out/.complete" ]; then
    echo "$out"
    exit 0
fi

log() { echo "vm-image: $*" >&2; }

packages=systemd-sysv,udev,kmod,containerd,runc,busybox-static,python3,python3-venv,iproute2,apparmor,procps,util-linux,ca-certificates
# The modules the initramfs loads, in order, to reach an ext4 root on virtio-blk.
initrd_modules="virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic libcrc32c ext4"

need=()
for tool in debootstrap:debootstrap qemu-system-x86_64:qemu-system-x86 cpio:cpio busybox:busybox-static; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
started=$SECONDS

log "wheelhouse"
scripts/compose-env.sh wheelhouse

log "kernel: Debian's linux-image-amd64, unpacked"
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1
}
kpkg=$(kernel_package) || true
if [ -z "$kpkg" ]; then  # a machine whose package lists were never fetched
    apt-get update -qq
    kpkg=$(kernel_package) || true
fi
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg")
mkdir "$work/kernel"
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")

# The debootstrap tree is cached on its own (by the package list), so changing the rest of
# this script rebuilds in seconds rather than minutes.
base_tar="$cache/bookworm-vm-$(echo "$packages" | sha256sum | cut -c1-12).tar"
if [ ! -s "$base_tar" ]; then
    log "debootstrap bookworm ($packages)"
    debootstrap --variant=minbase --include="$packages" bookworm "$root" \
        http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" --numeric-owner -cf "$base_tar.part" .
    mv "$base_tar.part" "$base_tar"
    log "debootstrap took $((SECONDS - started)) s"
else
    mkdir "$root"
    tar -C "$root" --numeric-owner -xf "$base_tar"
fi

mkdir -p "$root/lib/modules"
cp -a "$work/kernel/lib/modules/$kver" "$root/lib/modules/"
chroot "$root" depmod "$kver"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"

log "initramfs"
initrd="$work/initrd"
mkdir -p "$initrd"/{bin,dev,proc,sys,newroot,modules}
mknod "$initrd/dev/console" c 5 1
cp /bin/busybox "$initrd/bin/busybox"
for module in $initrd_modules; do
    file=$(find "$root/lib/modules/$kver" -name "$module.ko*" | head -1)
    # Some of these are built into Debian's kernel; only the modular ones ship.
    [ -n "$file" ] && cp "$file" "$initrd/modules/" && echo "$(basename "$file")"
done >"$initrd/modules/order"
cp scripts/vm/guest/init "$initrd/init"
chmod +x "$initrd/init"
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.img"

log "guest files"
# The runner that executes the host's command file at boot, then powers off.
cp scripts/vm/guest/moorage-vm-runner.service "$root/etc/systemd/system/"
cp scripts/vm/guest/runner.sh "$root/usr/local/sbin/moorage-vm-runner"
chmod +x "$root/usr/local/sbin/moorage-vm-runner"
ln -sf /etc/systemd/system/moorage-vm-runner.service \
    "$root/etc/systemd/system/multi-user.target.wants/moorage-vm-runner.service"
# containerd from Debian's package would start its own daemon; tests run private ones.
ln -sf /dev/null "$root/etc/systemd/system/containerd.service"
for unit in systemd-timesyncd apt-daily.timer apt-daily-upgrade.timer e2scrub_reap; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit.service"
done
cp /usr/local/bin/docker "$root/usr/local/bin/docker"
echo moorage-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 moorage-vm\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,noatime 0 1' >"$root/etc/fstab"
passwd -R "$root" -d root >/dev/null

log "venv from the wheelhouse"
mkdir -p "$root/tmp/wheelhouse"
cp .wheelhouse/*.whl requirements.lock "$root/tmp/wheelhouse/"
unshare --mount --propagation private -- sh -c "
    mount -t proc proc '$root/proc' && mount --rbind /dev '$root/dev' &&
    chroot '$root' sh -c 'python3 -m venv /opt/moorage-venv &&
        /opt/moorage-venv/bin/pip install -q --disable-pip-version-check --no-index \
            -f /tmp/wheelhouse -r /tmp/wheelhouse/requirements.lock'"
rm -rf "$root/tmp/wheelhouse"

log "rootfs.img"
truncate -s 4G "$work/rootfs.img"
mkfs.ext4 -q -F -L moorage-vm -d "$root" "$work/rootfs.img"

mkdir -p "$out"
mv "$work/vmlinuz" "$work/initrd.img" "$work/rootfs.img" "$out/"
echo "$kver" >"$out/kernel-version"
touch "$out/.complete"
# Only the newest image is kept; older ones are this script's earlier versions.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????' ! -name "$key" -exec rm -rf {} +
log "built in $((SECONDS - started)) s: $out"
echo "$out"
