"""The docker SDK's own integration tests as a peer suite: mooraged against dockerd 20.10.

    .venv/bin/python -m bench.sdk_peer --sdk-python PY [--short] [--docker-py PATH] [...]

(scripts/sdk-peer.sh checks the prerequisites, makes the SDK's venv and runs this.)
The tests are docker-py's, at the version requirements.lock pins, taken from that
version's sdist if it ships them, else from a docker-py checkout or git directory
given with --docker-py; they are never copied into this repository. One private
containerd is started in a fresh directory under /tmp; each engine in turn runs on it
(never both at once), gets the test image loaded, and has the chosen test files run
against it by pytest, with a per-test timeout. The engines, and pytest itself, each run
in a network namespace of their own holding only a loopback: pulls and the SDK's
connect-timeout test fail fast there and nothing reaches the host's network.
Everything started is stopped and the directory swept, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.engines import (
    API,
    REPO,
    Engine,
    EngineError,
    HostFootprint,
    in_private_netns,
    named,
)
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import (
    BUSYBOX,
    DEFAULT_PATH,
    Dir,
    Entry,
    File,
    Symlink,
    build_image,
    build_layer,
    write_docker_save,
)

# The API version both engines are driven at: dockerd 20.10's. docker-py's tests read it
# from this variable, and skip the ones that need a newer API.
API_VERSION = API.removeprefix("/v")

# The SDK tests run everything on `alpine:3.10` (tests/integration/base.py TEST_IMG) and
# name `alpine` / `alpine:latest` in the model tests; one local image carries all three.
TEST_IMAGE_TAGS = ("alpine:3.10", "alpine:latest")

# The test files, by docker-py's names: the container, exec, image, network, volume and
# system API tests and their model counterparts. Not run: build (moorage has no /build),
# swarm, services, nodes, secrets, configs and plugins (swarm mode and plugins are not
# moorage's), and the client-only context tests.
FULL_FILES = (
    "api_client_test.py",
    "api_container_test.py",
    "api_exec_test.py",
    "api_healthcheck_test.py",
    "api_image_test.py",
    "api_network_test.py",
    "api_volume_test.py",
    "client_test.py",
    "errors_test.py",
    "models_containers_test.py",
    "models_images_test.py",
    "models_networks_test.py",
    "models_resources_test.py",
    "models_volumes_test.py",
    "regression_test.py",
)
# A quick subset for CI: system calls, errors, regressions, one model test and exec.
SHORT_FILES = (
    "api_client_test.py",
    "client_test.py",
    "errors_test.py",
    "models_resources_test.py",
    "regression_test.py",
    "api_exec_test.py",
)

# Tests that need Docker Hub: there is no internet here, so they fail on every engine
# and say nothing about either. Deselected, by pytest node id under tests/integration.
NEEDS_REGISTRY = (
    "api_image_test.py::PullImageTest::test_pull",
    "api_image_test.py::PullImageTest::test_pull_streaming",
    "api_image_test.py::PullImageTest::test_pull_invalid_platform",
    "api_image_test.py::ImportImageTest::test_get_load_image",
    "api_image_test.py::PruneImagesTest::test_prune_images",
    "api_image_test.py::InspectDistributionTest::test_inspect_distribution",
    "models_images_test.py::ImageCollectionTest::test_list",
    "models_images_test.py::ImageCollectionTest::test_list_with_repository",
    "models_images_test.py::ImageCollectionTest::test_pull",
    "models_images_test.py::ImageCollectionTest::test_pull_with_tag",
    "models_images_test.py::ImageCollectionTest::test_pull_with_sha",
    "models_images_test.py::ImageCollectionTest::test_pull_multiple",
    "models_images_test.py::ImageTest::test_tag_and_remove",
    "models_containers_test.py::ContainerCollectionTest::test_run_with_image_that_does_not_exist",
)

ENGINES = ("moorage", "dockerd")
PER_TEST_TIMEOUT = 60
SUITE_TIMEOUT = 60 * 60  # one engine's whole run; far above the slowest seen
TAIL_CHARS = 2000

# Alpine's directory layout and users, so tests that name them (`whoami` as
# postgres, an exec in /var/opt) find what they would in alpine.
ALPINE_DIRS = (
    "bin", "dev", "etc", "home", "lib", "media", "mnt", "opt", "proc", "root", "run",
    "sbin", "srv", "sys", "tmp", "usr", "usr/bin", "usr/lib", "usr/local", "usr/local/bin",
    "usr/sbin", "usr/share", "var", "var/cache", "var/empty", "var/lib", "var/local",
    "var/lock", "var/log", "var/opt", "var/run", "var/spool", "var/tmp",
)  # fmt: skip
ALPINE_USERS = (
    ("root", 0, 0, "/root", "/bin/ash"),
    ("bin", 1, 1, "/bin", "/sbin/nologin"),
    ("daemon", 2, 2, "/sbin", "/sbin/nologin"),
    ("mail", 8, 12, "/var/spool/mail", "/sbin/nologin"),
    ("operator", 11, 0, "/root", "/sbin/nologin"),
    ("ftp", 21, 21, "/var/lib/ftp", "/sbin/nologin"),
    ("postgres", 70, 70, "/var/lib/postgresql", "/bin/sh"),
    ("guest", 405, 100, "/dev/null", "/sbin/nologin"),
    ("nobody", 65534, 65534, "/", "/sbin/nologin"),
)
ALPINE_GROUPS = (
    ("root", 0), ("bin", 1), ("daemon", 2), ("mail", 12), ("ftp", 21), ("postgres", 70),
    ("users", 100), ("nogroup", 65533), ("nobody", 65534),
)  # fmt: skip


class PeerError(RuntimeError):
    pass


# --- the test image ----------------------------------------------------------------------


def busybox_applets() -> list[str]:
    """Every applet path the host's static busybox installs (usr/bin/env, sbin/init, ...)."""
    listed = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({line.strip().strip("/") for line in listed.splitlines() if line.strip()})


def alpine_like_entries() -> list[Entry]:
    entries: dict[str, Entry] = {name: Dir(name) for name in ALPINE_DIRS}
    entries["root"] = Dir("root", 0o700)
    entries["tmp"] = Dir("tmp", 0o1777)
    entries["var/tmp"] = Dir("var/tmp", 0o1777)
    entries["bin/busybox"] = File("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in busybox_applets():
        if applet != "bin/busybox":
            entries[applet] = Symlink(applet, "/bin/busybox")
    passwd = "".join(
        f"{name}:x:{uid}:{gid}:{name}:{home}:{shell}\n"
        for name, uid, gid, home, shell in ALPINE_USERS
    )
    group = "".join(f"{name}:x:{gid}:\n" for name, gid in ALPINE_GROUPS)
    entries["etc/passwd"] = File("etc/passwd", passwd.encode())
    entries["etc/group"] = File("etc/group", group.encode())
    return list(entries.values())


def write_test_image(path: Path) -> str:
    """A docker-save archive of the busybox-based stand-in for alpine; its image ID."""
    config = {"Env": [DEFAULT_PATH], "Cmd": ["/bin/sh"]}  # alpine's
    image = build_image([build_layer(alpine_like_entries())], config)
    return write_docker_save(path, TEST_IMAGE_TAGS, image).id


# --- docker-py's tests -------------------------------------------------------------------


def locked_sdk_version() -> str:
    for line in (REPO / "requirements.lock").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() == "docker" and version:
            return version
    raise PeerError("requirements.lock pins no docker SDK version")


def _extract(archive: tarfile.TarFile, dest: Path, strip: str = "") -> None:
    """The archive's tests/ and pytest.ini (below `strip`) into `dest`; nothing else."""
    for member in archive.getmembers():
        name = member.name.removeprefix(strip)
        if not (name.startswith("tests/") or name == "pytest.ini"):
            continue
        member.name = name
        archive.extract(member, dest, filter="data")


def sdist_tests(sdk_python: str, version: str, dest: Path) -> bool:
    """docker==version's sdist from PyPI, unpacked into `dest`, if it ships the
    integration tests; False when it does not or cannot be fetched."""
    download = dest.parent / "sdist"
    done = subprocess.run(
        [sdk_python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"docker=={version}", "-d", str(download)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    archives = sorted(download.glob("docker-*.tar.gz"))
    if done.returncode or not archives:
        log(f"sdist of docker=={version} not fetched: {done.stderr.strip()[-300:]}")
        return False
    with tarfile.open(archives[0]) as archive:
        top = f"docker-{version}/"
        if not any(n.startswith(top + "tests/integration/") for n in archive.getnames()):
            log(f"the sdist of docker=={version} has no tests/integration")
            return False
        _extract(archive, dest, strip=top)
    return True


def checkout_tests(source: Path, version: str, dest: Path) -> None:
    """The tests of tag `version` from a git directory (bare or not), or of a plain
    checkout's working tree as it is."""
    is_git = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--git-dir"], capture_output=True, check=False
    ).returncode == 0  # fmt: skip
    tag_known = is_git and subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--verify", "--quiet", f"{version}^{{commit}}"],
        capture_output=True, check=False,
    ).returncode == 0  # fmt: skip
    if tag_known:
        archived = subprocess.run(
            ["git", "-C", str(source), "archive", version, "tests", "pytest.ini"],
            capture_output=True, check=True,
        )  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archived.stdout)) as archive:
            _extract(archive, dest)
        log(f"docker-py tests: tag {version} of {source}")
    elif (source / "tests" / "integration").is_dir():
        shutil.copytree(source / "tests", dest / "tests")
        if (source / "pytest.ini").exists():
            shutil.copy(source / "pytest.ini", dest / "pytest.ini")
        log(f"docker-py tests: the working tree of {source} (version not checked)")
    else:
        raise PeerError(f"{source}: no tag {version} and no tests/integration")


def get_sdk_tests(args: argparse.Namespace, dest: Path) -> None:
    version = locked_sdk_version()
    dest.mkdir(parents=True)
    if sdist_tests(args.sdk_python, version, dest):
        log(f"docker-py tests: the sdist of docker=={version}")
        return
    if not args.docker_py:
        raise PeerError(
            f"the sdist of docker=={version} has no integration tests: give a docker-py"
            " checkout or git directory with --docker-py or DOCKER_PY_SRC"
        )
    checkout_tests(Path(args.docker_py), version, dest)


# --- one engine's run --------------------------------------------------------------------


@dataclass
class Outcome:
    test_id: str
    status: str  # passed, failed, error, skipped
    message: str = ""
    seconds: float = 0.0


@dataclass
class EngineResult:
    name: str
    version: str = ""
    wall: float = 0.0
    exit_code: int | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    note: str = ""

    def counts(self) -> Counter[str]:
        return Counter(outcome.status for outcome in self.outcomes.values())


def log(message: str) -> None:
    print(f"sdk-peer: {message}", file=sys.stderr, flush=True)


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:240]
    return ""


# "tests/helpers.py:151: in assert_cat_socket_detached_with_keys", as --tb=short prints.
_TEST_FRAME = re.compile(r"^(tests/\S+:\d+): in (\w+)", re.MULTILINE)


def summary(message: str, traceback: str) -> str:
    """A failure's first line and, from its traceback, the last line of the tests' own
    code it went through (a bare "AssertionError" says little by itself)."""
    frames = _TEST_FRAME.findall(traceback)
    where = f" [{frames[-1][0]} in {frames[-1][1]}]" if frames else ""
    return first_line(message or traceback) + where


def parse_junit(path: Path) -> dict[str, Outcome]:
    """pytest's junit XML: one Outcome per test, by `file.py::Class::test` id."""
    outcomes: dict[str, Outcome] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        classname = case.get("classname", "")
        # "tests.integration.api_exec_test.ExecTest" -> "api_exec_test.py::ExecTest"
        parts = classname.removeprefix("tests.integration.").split(".")
        module = parts[0] + ".py"
        test_id = "::".join([module, *parts[1:], case.get("name", "?")])
        status, message = "passed", ""
        # A failure in the test wins over an error in its teardown.
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                status = {"failure": "failed"}.get(tag, tag)
                message = summary(found.get("message") or "", found.text or "")
                break
        outcomes[test_id] = Outcome(test_id, status, message, float(case.get("time") or 0))
    return outcomes


async def load_image(engine: Engine, archive: Path) -> None:
    assert engine.session is not None
    data = await asyncio.to_thread(archive.read_bytes)
    async with engine.session.post(
        f"http://engine{API}/images/load", data=data, params={"quiet": "1"}
    ) as response:
        body = await response.text()
        if response.status != 200 or '"error' in body:
            raise PeerError(f"{engine.name}: image load failed: {response.status} {body[:300]}")


def pytest_argv(args: argparse.Namespace, junit: Path) -> list[str]:
    files = SHORT_FILES if args.short else FULL_FILES
    selected = args.tests or [f"tests/integration/{name}" for name in files]
    argv = [
        args.sdk_python, "-m", "pytest", "-p", "no:cacheprovider",
        f"--timeout={args.timeout}", f"--junitxml={junit}", "-o", "junit_family=xunit2",
        "-q", "-rfE", *selected,
    ]  # fmt: skip
    argv += [f"--deselect=tests/integration/{test_id}" for test_id in NEEDS_REGISTRY]
    return argv


async def run_suite(engine: Engine, args: argparse.Namespace, workdir: Path,
                    tests_root: Path) -> EngineResult:  # fmt: skip
    result = EngineResult(engine.name)
    junit = workdir / f"junit-{engine.name}.xml"
    output = workdir / f"pytest-{engine.name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env |= {
        "DOCKER_HOST": engine.host,
        "DOCKER_TEST_API_VERSION": API_VERSION,
        "DOCKER_CONFIG": str(workdir / f"docker-config-{engine.name}"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    log(f"{engine.name}: running the SDK tests (output in {output})")
    out_fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *in_private_netns(pytest_argv(args, junit)),
            cwd=tests_root, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out_fd,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(out_fd)
    try:
        async with asyncio.timeout(SUITE_TIMEOUT):
            result.exit_code = await proc.wait()
    except TimeoutError:
        result.note = f"pytest stopped after {SUITE_TIMEOUT} s;"
    finally:
        if proc.returncode is None:
            # Its own session: the kill reaches the test process and anything it started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    result.wall = time.monotonic() - start
    if junit.exists():
        result.outcomes = await asyncio.to_thread(parse_junit, junit)
    else:
        result.note += f" no junit report; pytest exited {result.exit_code};"
    if engine.proc is not None and engine.proc.returncode is not None:
        result.note += f" {engine.name} exited ({engine.proc.returncode}) during the suite"
    return result


async def run_engine(name: str, args: argparse.Namespace, workdir: Path, containerd: str,
                     image: Path, tests_root: Path) -> EngineResult:  # fmt: skip
    # Both with their networking on: each runs in a network namespace of its own.
    engine = named(name, workdir, containerd, args.dockerd, bridge=True)
    engine.argv = in_private_netns(engine.argv)
    try:
        log(f"{name}: starting")
        await engine.start()
        await load_image(engine, image)
        version = await engine.request("GET", "/version")
        result = await run_suite(engine, args, workdir, tests_root)
        result.version = str(version.get("Version", "?"))
        return result
    except (EngineError, PeerError) as exc:
        log(f"{name}: {exc}")
        return EngineResult(name, note=str(exc).splitlines()[0])
    finally:
        await engine.stop()


# --- report ------------------------------------------------------------------------------


def regressions(results: Sequence[EngineResult]) -> list[tuple[str, Outcome | None]]:
    """Tests dockerd passes and moorage does not, with moorage's outcome (None: not run)."""
    by_name = {result.name: result for result in results}
    d, m = by_name.get("dockerd"), by_name.get("moorage")
    if d is None or m is None:
        return []
    return [
        (test_id, m.outcomes.get(test_id))
        for test_id, outcome in d.outcomes.items()
        if outcome.status == "passed"
        and (test_id not in m.outcomes or m.outcomes[test_id].status != "passed")
    ]


def report(results: Sequence[EngineResult], args: argparse.Namespace) -> str:
    files = args.tests or list(SHORT_FILES if args.short else FULL_FILES)
    out = [
        f"# docker SDK {locked_sdk_version()} integration tests: moorage and dockerd",
        "",
        f"Mode: {'short' if args.short else 'full'}; files: {', '.join(files)}.",
        f"API {API_VERSION}; per-test timeout {args.timeout} s; {len(NEEDS_REGISTRY)} tests"
        " that need Docker Hub deselected. Each test counts once, as junit reports it:"
        " xfail as skipped, xpass as passed, a failure with a teardown error as failed.",
        "",
        "| engine | version | passed | failed | errors | skipped | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        counts = result.counts()
        out.append(
            f"| {result.name} | {result.version or '?'} | {counts['passed']} | {counts['failed']}"
            f" | {counts['error']} | {counts['skipped']} | {result.wall:.0f} s |"
        )
    out += [f"- {r.name}: {r.note.strip()}" for r in results if r.note.strip()]
    by_name = {result.name: result for result in results}
    d, m = by_name.get("dockerd"), by_name.get("moorage")
    if d is None or m is None:  # one engine only: nothing to compare
        return "\n".join(out) + "\n"
    lost = regressions(results)
    out += ["", f"## Pass on dockerd, not on moorage: {len(lost)}", ""]
    for test_id, outcome in lost:
        what = f"{outcome.status}: {outcome.message}" if outcome else "not run"
        secs = f" ({outcome.seconds:.0f} s)" if outcome and outcome.seconds >= 5 else ""
        out.append(f"- `{test_id}`{secs} — {what}")
    gained = [
        test_id
        for test_id, outcome in m.outcomes.items()
        if outcome.status == "passed" and d.outcomes.get(test_id, outcome).status != "passed"
    ]
    if gained:
        out += ["", f"## Pass on moorage, not on dockerd: {len(gained)}", ""]
        out += [f"- `{test_id}` — dockerd {d.outcomes[test_id].status}: "
                f"{d.outcomes[test_id].message}" for test_id in gained]  # fmt: skip
    return "\n".join(out) + "\n"


# --- main --------------------------------------------------------------------------------


async def peer_all(args: argparse.Namespace) -> list[EngineResult]:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-sdk-peer-"))
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    results: list[EngineResult] = []
    try:
        tests_root = workdir / "docker-py"
        await asyncio.to_thread(get_sdk_tests, args, tests_root)
        image = workdir / "alpine.tar"
        log(f"test image {await asyncio.to_thread(write_test_image, image)} as "
            f"{', '.join(TEST_IMAGE_TAGS)}")  # fmt: skip
        await containerd.start()
        for name in args.engines:
            results.append(
                await run_engine(name, args, workdir, containerd.address, image, tests_root)
            )
    finally:
        if args.logs:
            await asyncio.to_thread(keep_logs, workdir, containerd.log_path, Path(args.logs))
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()
    return results


def keep_logs(workdir: Path, containerd_log: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    patterns = ("dockerd.log", "moorage.log", "pytest-*.log", "junit-*.xml")
    for log_file in [containerd_log, *(p for pat in patterns for p in workdir.glob(pat))]:
        if log_file.exists():
            shutil.copy(log_file, keep / log_file.name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sdk-peer", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--sdk-python", required=True,
                   help="python of a venv with the pinned docker SDK, pytest, pytest-timeout"
                   " and paramiko (scripts/sdk-peer.sh makes one)")  # fmt: skip
    p.add_argument("--short", action="store_true", help="a few quick test files (for CI)")
    p.add_argument("--docker-py", default=os.environ.get("DOCKER_PY_SRC", ""),
                   help="docker-py checkout or git dir, if the sdist has no tests"
                   " (default: $DOCKER_PY_SRC)")  # fmt: skip
    p.add_argument("--engines", default=",".join(ENGINES),
                   help="which engines, in order (default moorage,dockerd)")  # fmt: skip
    p.add_argument("--dockerd", default="dockerd", help="the dockerd 20.10 binary")
    p.add_argument("--timeout", type=int, default=PER_TEST_TIMEOUT, help="per test, seconds")
    p.add_argument("--out", default="", help="also write the report to this file")
    p.add_argument("--logs", default="", help="keep daemon, containerd and pytest logs here")
    p.add_argument("tests", nargs="*",
                   help="pytest ids under the docker-py tree instead of the file list,"
                   " e.g. tests/integration/api_exec_test.py")  # fmt: skip
    args = p.parse_args(argv)
    # pytest runs in the tests' directory: a relative interpreter path would not resolve
    # there (and resolving symlinks would leave the venv).
    args.sdk_python = os.path.abspath(args.sdk_python)
    args.engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if not args.engines or set(args.engines) - set(ENGINES) or args.timeout < 1:
        p.error("--engines takes moorage and/or dockerd; --timeout must be >= 1")
    return args


async def main_async(args: argparse.Namespace) -> list[EngineResult]:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    # SIGTERM and SIGHUP clean up like Ctrl-C does: cancel, then the finally blocks run.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    return await peer_all(args)


def main(argv: list[str] | None = None) -> int:
    if os.geteuid() != 0:
        log("must run as root (containerd, the engines, network namespaces)")
        return 2
    args = parse_args(argv)
    try:
        results = asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; everything it started was stopped")
        return 130
    except PeerError as exc:
        log(str(exc))
        return 1
    text = report(results, args)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    # Non-zero when an engine produced no results, or moorage fails what dockerd passes.
    broken = any(not result.outcomes for result in results)
    return 1 if broken or regressions(results) else 0


if __name__ == "__main__":
    sys.exit(main())
