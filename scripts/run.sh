#!/usr/bin/env bash
# Sets up everything moorage needs (idempotent) and runs the daemon in the foreground,
# with its own managed containerd unless --containerd is given. Extra arguments go
# to mooraged (dockerd's flag names).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/mooraged "$@"
