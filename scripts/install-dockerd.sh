#!/usr/bin/env bash
# Idempotent, as root: Debian's docker.io for the reference dockerd 20.10, when no `dockerd`
# is on the PATH. Only the binaries are wanted: no docker service is started (where a
# policy-rc.d forbids it, as in containers) and none is left running either way. The
# package's /usr/bin/docker does not shadow a newer CLI in /usr/local/bin, which comes
# first on Debian's PATH.
set -euo pipefail
if command -v dockerd >/dev/null 2>&1; then
    exit 0
fi
echo "install-dockerd: installing Debian's docker.io for dockerd 20.10" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io >/dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop docker.service docker.socket >/dev/null 2>&1 || true
fi
