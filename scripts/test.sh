#!/usr/bin/env bash
# Runs the whole test suite against a private, real containerd (started by the fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's 5 means no test ran: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then
    echo "test: no tests were collected" >&2
    exit 1
fi
exit "$rc"
