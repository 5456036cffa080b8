#!/usr/bin/env bash
# The fuzzers: `scripts/fuzz.sh` runs them as CI does (short: a fixed seed, a few minutes in
# all); `scripts/fuzz.sh long` runs the long mode: schemathesis against the Engine API for up
# to 30 minutes with many examples per operation and a fresh seed, 20,000 hypothesis examples
# per parser property and 30 minutes of coverage-guided atheris on the tar and archive readers.
# Counts are printed. Needs root (the API fuzz runs mooraged in a private network namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "long" ]; then
    export MOORAGE_FUZZ=long
fi
exec .venv/bin/python -m pytest tests/unit/fuzz tests/integration/fuzz -q -s -p no:cacheprovider \
    -o timeout=3600
