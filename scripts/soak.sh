#!/usr/bin/env bash
# The soak test in its long mode: `scripts/soak.sh 10000` runs that many mixed docker
# operations against one mooraged (1,000 without an argument, as in CI) and prints
# ops/s, fds, asyncio tasks and RSS at its start and end.
set -euo pipefail
cd "$(dirname "$0")/.."
export MOORAGE_SOAK_OPS="${1:-1000}"
exec .venv/bin/python -m pytest tests/integration/daemon/test_soak.py -q -s -p no:cacheprovider
