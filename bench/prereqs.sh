# Sourced (from the repository's root) by the bench/*.sh front ends: they run as root and
# install what is missing (scripts/setup.sh, scripts/install-dockerd.sh) before they start.
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root" >&2
    exit 2
fi
[ -x .venv/bin/python ] && command -v containerd >/dev/null && command -v runc >/dev/null \
    || scripts/setup.sh
scripts/install-dockerd.sh
