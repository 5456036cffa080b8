"""The managed (embedded) containerd: one child process with its own dirs and socket.

Used when the daemon is given no `--containerd` address, and by the test fixtures.
Stopping containerd leaves its shims (and so the containers) running, exactly as a
containerd restart does; a later start with the same dirs reconnects to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from types import TracebackType

LOG_TAIL_BYTES = 4096
RESTART_DELAY_INITIAL = 0.1
RESTART_DELAY_MAX = 10.0

log = logging.getLogger(__name__)


class ContainerdStartError(RuntimeError):
    """containerd exited or did not open its socket in time."""


def _toml_str(value: str | os.PathLike[str]) -> str:
    # A JSON string is a valid TOML basic string for anything a path can hold.
    return json.dumps(os.fspath(value))


class ManagedContainerd:
    def __init__(
        self,
        *,
        root: str | os.PathLike[str],
        state: str | os.PathLike[str],
        address: str | os.PathLike[str],
        log_path: str | os.PathLike[str],
        metrics_address: str | None = None,
        binary: str = "containerd",
        debug: bool = False,
        config_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.root = Path(root)
        self.state = Path(state)
        self.log_path = Path(log_path)
        self.metrics_address = metrics_address
        self.binary = binary
        self.debug = debug
        # Beside the state, not the root: it is regenerated on every start.
        self.config_path = Path(config_path) if config_path else self.state / "containerd.toml"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._address = os.fspath(address)
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def address(self) -> str:
        """The gRPC unix socket path."""
        return self._address

    @property
    def ttrpc_address(self) -> str:
        return self._address + ".ttrpc"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def render_config(self) -> str:
        lines = [
            "version = 2",
            f"root = {_toml_str(self.root)}",
            f"state = {_toml_str(self.state)}",
            # CRI would start its own networking and image services; nothing here uses it.
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
            "",
            "[grpc]",
            f"  address = {_toml_str(self._address)}",
            "",
            "[ttrpc]",
            f"  address = {_toml_str(self.ttrpc_address)}",
        ]
        if self.metrics_address:
            lines += ["", "[metrics]", f"  address = {_toml_str(self.metrics_address)}"]
        if self.debug:
            lines += ["", "[debug]", '  level = "debug"']
        return "\n".join(lines) + "\n"

    async def start(self) -> None:
        if self.running:
            raise RuntimeError(f"containerd already running (pid {self.pid})")
        self._stopping = False
        for directory in (self.state, self.config_path.parent, self.log_path.parent):
            directory.mkdir(parents=True, exist_ok=True)
        Path(self._address).parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render_config())
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary,
                "--config",
                os.fspath(self.config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the daemon must not reach it.
                start_new_session=True,
            )
        finally:
            os.close(log_fd)  # the child holds its own copy
        try:
            await self._wait_ready()
        except BaseException:
            await self._terminate()
            raise

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.returncode is not None:
                raise ContainerdStartError(
                    f"containerd exited with status {self._proc.returncode} during start-up;"
                    f" log tail:\n{self.log_tail()}"
                )
            # A socket file left by an earlier run exists but refuses connections,
            # so only a successful connect proves this process is serving.
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_unix_connection(self._address)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            if time.monotonic() >= deadline:
                raise ContainerdStartError(
                    f"containerd did not accept connections on {self._address} within"
                    f" {self.start_timeout:g}s; log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; the shims keep running."""
        self._stopping = True
        if self._proc is None:
            return
        await self._terminate()

    async def supervise(self) -> None:
        """Start containerd again whenever it exits on its own, until `stop()`.

        The shims outlive it, so containers keep running; clients reconnect to the
        same socket (libcontainerd resubscribes and reconciles by itself).
        """
        delay = RESTART_DELAY_INITIAL
        while not self._stopping and self._proc is not None:
            status = await self._proc.wait()
            if self._stopping:
                return
            log.error("containerd exited with status %s; starting it again", status)
            self._proc = None
            while not self._stopping:
                try:
                    await self.start()
                except ContainerdStartError as exc:
                    log.error("containerd did not come back: %s", exc)
                    await asyncio.sleep(delay)  # backoff between attempts
                    delay = min(delay * 2, RESTART_DELAY_MAX)
                    continue
                self.restarts += 1
                delay = RESTART_DELAY_INITIAL
                break

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._proc = None

    async def wait(self) -> int:
        """Block until containerd exits on its own (or is stopped); its exit status."""
        if self._proc is None:
            raise RuntimeError("containerd is not running")
        return await self._proc.wait()

    def log_tail(self, size: int = LOG_TAIL_BYTES) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - size))
                return log.read().decode(errors="replace")
        except OSError as exc:
            return f"(log unavailable: {exc})"

    async def __aenter__(self) -> ManagedContainerd:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
