"""The Engine API fuzzed with schemathesis against the swagger of the version mooraged speaks.

mooraged runs in a private network namespace, listening on TCP loopback there (and
its unix socket); schemathesis runs in the same namespace, so whatever a fuzzed
request makes (bridges, pulls that try to reach a registry) stays inside it. Every
operation of the spec is generated for, positive and negative, through the
examples, coverage and fuzzing phases; the one check is that no reply is a 5xx.
Afterwards the daemon must still be running and answering.

Short (CI) mode: a few examples per operation, a fixed seed, two and a half
minutes at most (10,000 to 20,000 requests here, as the load allows: fuzzing goes
on until the time is spent, so a run may still find something new). Long mode
(``MOORAGE_FUZZ=long``, ``scripts/fuzz.sh long``): many more examples, a fresh
seed, half an hour at most. The counts are printed.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.netns import NetnsDaemon, netns_daemon

LONG = os.environ.get("MOORAGE_FUZZ") == "long"
EXAMPLES = 100 if LONG else 5
MAX_SECONDS = 1800 if LONG else 150
SEED = None if LONG else 12
PORT = 2375
SPEC_DIR = Path(os.environ.get("MOORAGE_DOCKER_API_DIR", "/work/shared/docker-api"))
# Swarm mode: dockerd's 503 "This node is not a swarm manager" is the right answer there.
SWARM_ONLY = r"^/(swarm|nodes|services|tasks|secrets|configs)(/|$)"
REPO = Path(__file__).resolve().parents[3]
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def spec_for(version: str) -> tuple[Path, str]:
    """The swagger of `version` if there is one, else the newest, and the base path to use."""
    specs = sorted(SPEC_DIR.glob("swagger-*.yaml"))
    if not specs:
        pytest.skip(f"no Engine API swagger in {SPEC_DIR} (set MOORAGE_DOCKER_API_DIR)")
    for spec in specs:
        # The spec's own version: `info:` then, indented under it, `version: "1.41"`.
        found = re.search(
            r'^info:\n(?:[ ].*\n)*?[ ]+version: "?([0-9.]+)"?$', spec.read_text(), re.M
        )
        if found is not None and found.group(1) == version:
            return spec, f"/v{version}"
    newest = SPEC_DIR / "swagger-latest.yaml"
    return (newest if newest.exists() else specs[-1]), f"/v{version}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def daemon() -> AsyncIterator[NetnsDaemon]:
    async with netns_daemon(extra_args=("-H", f"tcp://127.0.0.1:{PORT}")) as running:
        yield running


async def test_no_fuzzed_request_gets_a_5xx(daemon: NetnsDaemon, tmp_path: Path) -> None:
    version = (await daemon.docker_ok("version", "--format", "{{.Server.APIVersion}}")).strip()
    spec, base = spec_for(version)
    argv = [
        # In a directory of its own: schemathesis keeps a cache of past failures in its cwd.
        "env", "-C", str(tmp_path), SCHEMATHESIS, "run", str(spec),
        "--url", f"http://127.0.0.1:{PORT}{base}",
        "--checks", "not_a_server_error",
        "--exclude-path-regex", SWARM_ONLY,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--max-time", str(MAX_SECONDS),
        "--workers", "1",  # hypothesis's lambda sources are not thread-safe on 3.11
        "--request-timeout", "20",
        "--suppress-health-check", "all",
        "--warnings", "off",
    ]  # fmt: skip
    if SEED is not None:
        argv += ["--seed", str(SEED)]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SCHEMATHESIS_HOOKS": "tests.integration.fuzz.schemathesis_hooks",
        "NO_COLOR": "1",
    }
    started = time.monotonic()
    result = await daemon.netns.run(*argv, env=env, timeout=MAX_SECONDS + 120)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    summary = output[output.find("= SUMMARY =") :] if "= SUMMARY =" in output else output[-3000:]
    print(f"\nschemathesis on {spec.name} at {base}: {elapsed:.0f} s, exit {result.returncode}")
    print(summary)
    assert daemon.process.returncode is None, "mooraged exited during the fuzz run"
    assert (await daemon.docker("version")).returncode == 0, "mooraged stopped answering"
    # The failures and errors sections, whole: each names the request and how to replay it.
    problems = output.find("==== ERRORS ====")
    if problems < 0:
        problems = output.find("==== FAILURES ====")
    assert result.returncode == 0, output[problems if problems >= 0 else -8000 :][:30000]
    assert re.search(r"Test cases:\n\s+[0-9]+ generated, [0-9]+ passed", summary), summary
