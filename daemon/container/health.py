"""Docker healthchecks: a monitor per running container runs its test as an exec.

As in dockerd 20.10: the first probe runs one Interval after the start and each
next one an Interval after the previous ended; a probe that overruns its Timeout
is killed and logged with exit code -1; failures within the StartPeriod (while
still "starting") do not count toward Retries. State.Health keeps the last five
results and survives the container's exit; the next start resets it to "starting".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any, Protocol

from libcontainerd import errors as lcd_errors
from wire.container import Health, HealthcheckResult

from .. import errors
from ..timefmt import format_go_duration, now_rfc3339_nano
from .io import Attachment
from .live import ExecRecord, LiveContainer
from .state import STARTING, UNHEALTHY, Input, ProbeResult

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_RETRIES = 3
MAX_OUTPUT_LEN = 4096
# How long a killed probe may take to be reported gone before the monitor moves on.
_KILL_GRACE = 10.0


def _seconds(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    return value / 1e9 if isinstance(value, int) and value > 0 else default


def probe_command(model_config: dict[str, Any]) -> list[str] | None:
    """The exec's command line, or None when the container has no (enabled) healthcheck."""
    healthcheck = model_config.get("Healthcheck")
    if not isinstance(healthcheck, dict):
        return None
    test = [str(arg) for arg in healthcheck.get("Test") or []]
    if not test:
        return None
    if test[0] == "CMD" and len(test) > 1:
        return test[1:]
    if test[0] == "CMD-SHELL" and len(test) > 1:
        shell = [str(arg) for arg in model_config.get("Shell") or []] or ["/bin/sh", "-c"]
        return [*shell, " ".join(test[1:])]
    return None  # NONE, or a type dockerd does not know


def status_suffix(health: Health | None) -> str:
    """What `docker ps` adds to a running container's Status."""
    if health is None:
        return ""
    status = health.get("Status") or UNHEALTHY
    return " (health: starting)" if status == STARTING else f" ({status})"


class ProbeRunner(Protocol):
    """The execs a monitor runs its probes as."""

    def create(self, ref: str, config: dict[str, Any], *, probe: bool = False) -> str: ...

    def prepare(self, exec_id: str) -> tuple[ExecRecord, Attachment]: ...

    async def start(self, record: ExecRecord) -> None: ...

    def discard(self, record: ExecRecord) -> None: ...


class HealthMonitor:
    """Starts and stops each container's monitor task: the schedule. The results go to the
    container's state machine as inputs, which keeps State.Health (and emits its events)."""

    def __init__(self, execs: ProbeRunner) -> None:
        self._execs = execs
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, live: LiveContainer) -> None:
        """After a start: a container with a healthcheck begins "starting" again."""
        self.stop(live)
        command = probe_command(live.model.config)
        if command is None:
            return
        self._apply(live, Input.HEALTH_STARTING)
        self._tasks[live.id] = asyncio.get_running_loop().create_task(
            self._monitor(live, command), name=f"health-{live.id[:12]}"
        )

    def stop(self, live: LiveContainer) -> None:
        """At the exit or removal: State.Health stays as the last probe left it."""
        task = self._tasks.pop(live.id, None)
        if task is not None and not task.done():
            task.cancel()

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _monitor(self, live: LiveContainer, command: list[str]) -> None:
        healthcheck = live.model.config.get("Healthcheck") or {}
        interval = _seconds(healthcheck, "Interval", DEFAULT_INTERVAL)
        timeout = _seconds(healthcheck, "Timeout", DEFAULT_TIMEOUT)
        # API 1.44's StartInterval: the period while the container is still starting.
        start_interval = _seconds(healthcheck, "StartInterval", 0.0)
        start_period = _seconds(healthcheck, "StartPeriod", DEFAULT_START_PERIOD)
        while True:
            period = interval
            health = live.model.state.health
            if (
                start_interval
                and health is not None
                and health.get("Status") == STARTING
                and time.monotonic() - live.started_monotonic < start_period
            ):
                period = start_interval
            await asyncio.sleep(period)  # the healthcheck's own period, not a wait for state
            if live.model.state.paused:
                continue
            try:
                result, began = await self._probe(live, command, timeout)
            except errors.DaemonError as exc:
                log.debug("health probe of %s not run: %s", live.id[:12], exc)
                continue
            except Exception:
                log.exception("health probe of %s failed", live.id[:12])
                continue
            self._record(live, healthcheck, result, began)

    async def _probe(
        self, live: LiveContainer, command: list[str], timeout: float
    ) -> tuple[HealthcheckResult, float]:
        """The probe's result, and when (monotonic) it began."""
        execs = self._execs
        config = live.model.config
        exec_id = execs.create(
            live.id,
            {
                "Cmd": command,
                "User": config.get("User") or "",
                "WorkingDir": config.get("WorkingDir") or "",
                "AttachStdout": True,
                "AttachStderr": True,
            },
            probe=True,
        )
        record, attachment = execs.prepare(exec_id)
        output = bytearray()
        truncated = False

        async def read() -> None:
            nonlocal truncated
            while (chunk := await attachment.next()) is not None:
                room = MAX_OUTPUT_LEN - len(output)
                output.extend(chunk[1][:room])
                truncated = truncated or len(chunk[1]) > room

        reader = asyncio.get_running_loop().create_task(read())
        start = now_rfc3339_nano()
        began = time.monotonic()
        try:
            await execs.start(record)
            async with asyncio.timeout(timeout):
                await record.exited.wait()
        except errors.DaemonError as exc:
            # As dockerd: a probe that could not start is a -1 with the reason as its output.
            return {
                "Start": start,
                "End": now_rfc3339_nano(),
                "ExitCode": -1,
                "Output": str(exc),
            }, began
        except TimeoutError:
            await self._kill(record)
            return {
                "Start": start,
                "End": now_rfc3339_nano(),
                "ExitCode": -1,
                "Output": f"Health check exceeded timeout ({format_go_duration(timeout)})",
            }, began
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(reader)
            reader.cancel()
            record.hub.detach(attachment)
            if record.exited.is_set() or record.process is None:
                execs.discard(record)
        text = output.decode(errors="replace") + ("..." if truncated else "")
        exit_code = record.exit_code if record.exit_code is not None else -1
        return {
            "Start": start,
            "End": now_rfc3339_nano(),
            "ExitCode": exit_code,
            "Output": text,
        }, began

    async def _kill(self, record: ExecRecord) -> None:
        if record.process is not None:
            with contextlib.suppress(lcd_errors.LibcontainerdError):
                await record.process.kill(signal.SIGKILL)
        # Wait for it to go, so that dying probes do not pile up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_KILL_GRACE):
                await record.exited.wait()

    def _record(
        self,
        live: LiveContainer,
        healthcheck: dict[str, Any],
        result: HealthcheckResult,
        began: float,
    ) -> None:
        start_period = _seconds(healthcheck, "StartPeriod", DEFAULT_START_PERIOD)
        retries = healthcheck.get("Retries")
        if not isinstance(retries, int) or retries <= 0:
            retries = DEFAULT_RETRIES
        in_start_period = (
            live.started_monotonic > 0 and began - live.started_monotonic < start_period
        )
        self._apply(live, Input.HEALTH_PROBED, ProbeResult(result, retries, in_start_period))

    def _apply(self, live: LiveContainer, event: Input, probe: ProbeResult | None = None) -> None:
        try:
            live.machine.apply(event, probe=probe)
        except OSError as exc:
            log.warning("saving the health of %s failed: %s", live.id[:12], exc)
