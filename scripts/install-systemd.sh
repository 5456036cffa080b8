#!/usr/bin/env bash
# Install moorage's systemd units (contrib/systemd) for this checkout, as root:
#   scripts/install-systemd.sh [path of mooraged]   (default: this checkout's .venv/bin/mooraged)
# It creates the docker group if missing (the socket's group), an empty
# /etc/moorage/daemon.json if there is none, and enables moorage.socket. Start with
# `systemctl start moorage.socket` (the first API call starts the service) or
# `systemctl start moorage`. UNIT_DIR and CONFIG_DIR install elsewhere (defaults
# /etc/systemd/system and /etc/moorage; the unit still reads /etc/moorage/daemon.json).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-$PWD/.venv/bin/mooraged}
unit_dir=${UNIT_DIR:-/etc/systemd/system}
config_dir=${CONFIG_DIR:-/etc/moorage}
if [ ! -x "$binary" ]; then
    echo "install-systemd: $binary is not an executable mooraged (run scripts/setup.sh?)" >&2
    exit 1
fi

getent group docker >/dev/null || groupadd --system docker
install -d -m 0755 "$config_dir"
[ -e "$config_dir/daemon.json" ] || echo '{}' > "$config_dir/daemon.json"
mooraged_escaped=$(printf '%s' "$binary" | sed 's/[&|\\]/\\&/g')
sed "s|^ExecStart=/usr/local/bin/mooraged|ExecStart=$mooraged_escaped|" \
    contrib/systemd/moorage.service > "$unit_dir/moorage.service"
install -m 0644 contrib/systemd/moorage.socket "$unit_dir/moorage.socket"
chmod 0644 "$unit_dir/moorage.service"
# The unit's own flags: a "hosts" key in daemon.json would conflict with its -H fd://.
"$binary" -H fd:// --config-file "$config_dir/daemon.json" --validate

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable moorage.socket moorage.service
    echo "install-systemd: enabled; start with: systemctl start moorage.socket" >&2
else
    echo "install-systemd: units written to $unit_dir; systemd is not running here" >&2
fi
