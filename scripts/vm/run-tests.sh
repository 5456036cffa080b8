#!/usr/bin/env bash
# Runs tests inside a cgroup v2 + AppArmor guest (Debian 12 under QEMU), as root:
#
#   scripts/vm/run-tests.sh            # tests/integration/vm plus the guest's integration set
#   scripts/vm/run-tests.sh --short    # tests/integration/vm only (the quick check)
#   scripts/vm/run-tests.sh PYTEST_ARGS...   # any tests, e.g. tests/integration/vm -k oom
#
# Builds or reuses the image (scripts/vm/build-image.sh), puts the repository's files
# (tracked and untracked, not ignored) and a command file in a fresh share folder, boots
# the guest with that folder over 9p, and exits with the guest's test status. The guest
# has no network (-nic none), at most 2 vCPUs, software emulation (hardware KVM cannot
# boot a stock Debian kernel on these machines), and its disk is a throwaway snapshot of
# the cached image. One guest at a time: a lock under /var/cache/moorage-vm.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The container-heavy integration tests that run in the guest's time (5-10x slower than
# on the host): the container lifecycle, exec, logs and restart through the docker CLI.
full_set=(tests/integration/vm tests/integration/cli/test_lifecycle.py tests/integration/cli/test_observe.py)
short_set=(tests/integration/vm)

case "${1:-}" in
    "") tests=("${full_set[@]}") ;;
    --short) tests=("${short_set[@]}") ;;
    *) tests=("$@") ;;
esac
timeout_s=${MOORAGE_VM_TIMEOUT:-2400}

started=$SECONDS
image=$(nice -n 10 scripts/vm/build-image.sh)
built=$((SECONDS - started))

share=$(mktemp -d /tmp/moorage-vm.XXXXXX)
trap 'rm -rf "$share"' EXIT
git ls-files -co --exclude-standard -z | tar --null -T - -cf "$share/repo.tar"
{
    echo 'set -x'
    echo 'uname -r; stat -fc %T /sys/fs/cgroup; cat /sys/module/apparmor/parameters/enabled'
    printf 'PYTHONUNBUFFERED=1 .venv/bin/python -m pytest -v -p no:cacheprovider'
    printf ' %q' "${tests[@]}"
    echo
} >"$share/command"

exec 9>/var/cache/moorage-vm/run.lock
if ! flock -n 9; then
    echo "vm-test: waiting for the guest another run holds" >&2
    flock 9
fi
echo "vm-test: image $image (ready in ${built} s); booting" >&2
boot=$SECONDS
status=0
nice -n 10 timeout "$timeout_s" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 apparmor=1 security=apparmor mitigations=off panic=1 systemd.show_status=0" \
    -drive "file=$image/rootfs.img,if=virtio,format=raw,snapshot=on" \
    -virtfs "local,path=$share,mount_tag=vmshare,security_model=passthrough,id=vmshare" \
    -nic none -display none -vga none -no-reboot -serial "file:$share/console.log" || status=$?
ran=$((SECONDS - boot))

if [ -f "$share/exit-code" ]; then
    status=$(cat "$share/exit-code")
    cat "$share/output.log"
else
    echo "vm-test: the guest left no exit code (qemu status $status)" >&2
    status=${status/#0/1}
fi
if [ "$status" != 0 ]; then
    echo "vm-test: the guest's console, last lines:" >&2
    tail -n 60 "$share/console.log" >&2
fi
echo "vm-test: image ${built} s, guest ${ran} s, status $status" >&2
exit "$status"
