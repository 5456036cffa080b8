"""The curl examples of README.md, run as written with the real curl against mooraged.

The block after "or curl:" is read from the README itself, so the examples
cannot drift from what works. Only the socket path is rewritten to the test
daemon's. Each command must succeed and answer with the body shape below; a
command this test has no expectation for fails it, so new examples get one.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.daemon import RunningDaemon

README = Path(__file__).resolve().parents[3] / "README.md"
README_SOCKET = "/run/moorage/moorage.sock"
STATUS_MARK = "\n--status:"


def readme_curl_commands() -> list[list[str]]:
    """The argv of each command in the README's curl block (continuations joined)."""
    text = README.read_text()
    _, found, after = text.partition("or curl:")
    assert found, "README.md has no 'or curl:' section"
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match is not None, "no ```sh block after 'or curl:'"
    joined = match.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


def _is_json(body: bytes, check: Callable[[Any], bool]) -> bool:
    try:
        return check(json.loads(body))
    except ValueError:
        return False


def _container_id(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and re.fullmatch(r"[0-9a-f]{64}", doc.get("Id", "")) is not None
        and isinstance(doc.get("Warnings"), list)
    )


def _summaries(doc: Any) -> bool:
    return isinstance(doc, list) and all(
        isinstance(c, dict) and {"Id", "Names", "State", "Status"} <= c.keys() for c in doc
    )


# (method, path pattern) -> (expected status, body check)
EXPECTED: list[tuple[str, str, int, Callable[[bytes], bool]]] = [
    ("GET", r"/_ping", 200, lambda body: body == b"OK"),
    ("GET", r"/v1\.41/version", 200,
     lambda body: _is_json(body, lambda d: d["ApiVersion"] == "1.56" and "Components" in d)),
    ("GET", r"/v1\.41/containers/json", 200, lambda body: _is_json(body, _summaries)),
    ("POST", r"/v1\.41/containers/create", 201, lambda body: _is_json(body, _container_id)),
    ("POST", r"/v1\.41/containers/hello/start", 204, lambda body: body == b""),
    ("POST", r"/v1\.41/containers/hello/wait", 200,
     lambda body: _is_json(body, lambda d: d == {"Error": None, "StatusCode": 0})),
    # A TTY container's log is the terminal's raw bytes, hence the \r\n.
    ("GET", r"/v1\.41/containers/hello/logs", 200, lambda body: body == b"hello from curl\r\n"),
    ("DELETE", r"/v1\.41/containers/hello", 204, lambda body: body == b""),
]  # fmt: skip


def _request_of(argv: list[str]) -> tuple[str, str]:
    """The method and URL path curl will use for ``argv``."""
    url = next(a for a in argv if a.startswith("http://"))
    method = "GET"
    if "-X" in argv:
        method = argv[argv.index("-X") + 1]
    elif "-d" in argv or "--data" in argv:
        method = "POST"
    return method, urlsplit(url).path


def _expectation(argv: list[str]) -> tuple[int, Callable[[bytes], bool]]:
    method, path = _request_of(argv)
    for want_method, pattern, status, check in EXPECTED:
        if method == want_method and re.fullmatch(pattern, path):
            return status, check
    raise AssertionError(f"no expectation for README example {method} {path}: {argv}")


async def _run_curl(argv: list[str]) -> tuple[int, int, bytes, str]:
    """(curl's exit code, HTTP status, body, stderr)."""
    # -sS: no progress meter, errors still shown; -w: the status after the body.
    proc = await asyncio.create_subprocess_exec(
        argv[0], "-sS", "-w", STATUS_MARK + "%{http_code}", *argv[1:],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    body, _, status = out.rpartition(STATUS_MARK.encode())
    assert proc.returncode is not None
    return proc.returncode, int(status or 0), body, err.decode()


async def run_readme_curl_examples(socket: str) -> None:
    """Every curl example of the README against the daemon on `socket`, each checked."""
    assert shutil.which("curl"), "curl is missing: scripts/setup.sh installs it"
    commands = readme_curl_commands()
    assert len(commands) >= 8
    for argv in commands:
        assert argv[:3] == ["curl", "--unix-socket", README_SOCKET], argv
        argv = [argv[0], argv[1], socket, *argv[3:]]
        status, check = _expectation(argv)
        code, got_status, body, err = await _run_curl(argv)
        assert code == 0, (argv, err)
        assert got_status == status, (argv, body)
        assert check(body), (argv, body)


async def test_readme_curl_examples(daemon: RunningDaemon) -> None:
    await run_readme_curl_examples(str(daemon.socket))
    # The examples clean up after themselves.
    code, out, err = await daemon.docker("ps", "-aq")
    assert (code, out) == (0, ""), err
