#!/bin/bash
# In the guest: mount the host's share (9p tag "vmshare"), unpack the repository from it,
# run its command file from the repository with the image's venv as .venv, leave the
# output and exit code in the share, and power off.
set -u
share=/mnt/vmshare
modprobe -a 9pnet_virtio 9p
mkdir -p "$share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmshare "$share" || {
    echo "moorage-vm: no 9p share" >&2
    systemctl poweroff --no-block
    exit 1
}
echo "moorage-vm: ready after $(cut -d' ' -f1 /proc/uptime) s of uptime"
rm -rf /root/moorage
mkdir -p /root/moorage
tar -C /root/moorage -xf "$share/repo.tar"
ln -s /opt/moorage-venv /root/moorage/.venv
cd /root/moorage
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
bash "$share/command" 2>&1 | tee "$share/output.log"
echo "${PIPESTATUS[0]}" >"$share/exit-code.part"
mv "$share/exit-code.part" "$share/exit-code"
sync
systemctl poweroff --no-block
