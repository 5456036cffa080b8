"""The floor: the benchmark's container lifecycle straight on libcontainerd, no daemon.

What a daemon cannot go below: the same 12 containerd RPCs per lifecycle that
mooraged makes (Snapshots.Prepare, Containers.Create; Tasks.Create, Tasks.Start;
Tasks.Exec, Tasks.Start, Tasks.DeleteProcess; Tasks.Metrics; Tasks.Kill, Tasks.Delete;
Containers.Delete, Snapshots.Remove) through the project's own libcontainerd, with
the OCI spec mooraged would build for `{"Image": "busybox", "Cmd": [...]}` (made by
the daemon's own `ContainerSpecs`, etc files and all), and the stdio FIFOs drained as
the daemon's log copier would. No HTTP, no state files, no events, no logs: the CPU
the process spends is the client's share of those RPCs.

It runs in its own containerd namespace (`bench-floor`) with the busybox image
imported by `ctr`, so no daemon sees its containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.container.model import Container
from daemon.container.monitor import HANDLED_EVENTS
from daemon.container.spec import ContainerSpecs
from libcontainerd.digests import chain_ids
from libcontainerd.fifo import FifoReader
from libcontainerd.remote import RemoteClient
from libcontainerd.remote.container import RemoteContainer
from libcontainerd.types import (
    INIT_PROCESS_ID,
    EventInfo,
    EventType,
    ExitStatus,
    RuntimeSpec,
    SnapshotSpec,
    SpecFactory,
    StdioSpec,
)
from tests.support.containerd import TestContainerd
from tests.support.images import busybox_image, write_docker_save
from wire.container import ContainerCreateRequest

NAMESPACE = "bench-floor"
# Turns the spec mooraged builds into the one to run (its root, mounts, cgroup are kept).
SpecEdit = Callable[[dict[str, Any]], dict[str, Any]]
SHIM = "io.containerd.runc.v2"


class ExitWaiter:
    """The libcontainerd Backend: resolves a future per (container, process) on its exit."""

    def __init__(self) -> None:
        self._exits: dict[tuple[str, str], asyncio.Future[int]] = {}

    def future(self, container_id: str, process_id: str) -> asyncio.Future[int]:
        key = (container_id, process_id)
        if key not in self._exits:
            self._exits[key] = asyncio.get_running_loop().create_future()
        return self._exits[key]

    async def process_event(
        self, container_id: str, event_type: EventType, info: EventInfo
    ) -> None:
        if event_type is EventType.EXIT:
            waiter = self.future(container_id, info.process_id)
            if not waiter.done():
                waiter.set_result(info.exit_code)

    async def wait(self, container_id: str, process_id: str) -> int:
        try:
            return await self.future(container_id, process_id)
        finally:
            del self._exits[(container_id, process_id)]


async def _drain(reader: FifoReader | None) -> None:
    if reader is not None:
        while await reader.read():
            pass


class Floor:
    """One libcontainerd client and what the lifecycle needs: the image and the spec maker."""

    def __init__(self, containerd: TestContainerd, workdir: Path) -> None:
        self.containerd = containerd
        self.workdir = workdir
        self.backend = ExitWaiter()
        self.specs = ContainerSpecs()
        self.image = busybox_image()
        # Digests of the image, once: hashing its 2 MB layer at every create cost 1.6 ms of
        # CPU per lifecycle, a tenth of the floor, for work no daemon does per container.
        self.image_id = self.image.config_digest
        self.snapshot_parent = chain_ids(self.image.diff_ids)[-1]
        self.client: RemoteClient | None = None
        self.runtime = RuntimeSpec(SHIM, root=str(workdir / "runc"))

    async def start(self) -> None:
        archive = self.workdir / "busybox.tar"
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_docker_save(archive, ["busybox:latest"], self.image)
        await self.containerd.ctr("images", "import", str(archive), namespace=NAMESPACE)
        # The task events mooraged's client takes, so the event stream carries the same.
        self.client = await RemoteClient.connect(
            self.containerd.address,
            NAMESPACE,
            self.backend,
            self.workdir / "fifos",
            events=HANDLED_EVENTS,
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _model(self, cmd: list[str]) -> tuple[Container, Any]:
        """The container mooraged would make of `{"Image": "busybox", "Cmd": cmd}`."""
        request = ContainerCreateRequest.model_validate({"Image": "busybox", "Cmd": cmd})
        config, host_config = request.parts()
        container_id = secrets.token_hex(32)
        directory = self.workdir / "containers" / container_id
        directory.mkdir(parents=True, mode=0o700)
        model = Container(
            id=container_id,
            name=container_id[:12],
            created="",
            path="",
            args=[],
            config=config,
            host_config={**host_config, "Runtime": "runc"},
            image_id=self.image_id,
            runtime="runc",
            directory=str(directory),
        )
        self.specs.prepare_create(model, self.image.config_dict["config"], request)
        return model, self.specs.factory(model, self.snapshot_parent)

    # -- the lifecycle, step by step (each returns what the next needs) --

    async def create(self, cmd: list[str], spec_edit: SpecEdit | None = None) -> RemoteContainer:
        assert self.client is not None
        model, build = self._model(cmd)
        spec: SpecFactory = build
        if spec_edit is not None:  # another spec than mooraged's (bench/seccomp_cost.py)
            spec = lambda mounts: spec_edit(build(mounts))  # noqa: E731

        creating = asyncio.ensure_future(
            self.client.new_container(
                model.id,
                spec,
                self.runtime,
                SnapshotSpec(key=model.id, parent=self.snapshot_parent),
                image="docker.io/library/busybox:latest",
            )
        )
        # As mooraged's create: the spec is built while Snapshots.Prepare is in flight.
        await asyncio.sleep(0)
        build.build_early()
        return await creating

    async def start_task(self, container: RemoteContainer) -> list[asyncio.Task[None]]:
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        await task.start()
        return [asyncio.create_task(_drain(s)) for s in (task.stdio.stdout, task.stdio.stderr)]

    async def exec(
        self, container: RemoteContainer, args: list[str]
    ) -> tuple[int, asyncio.Task[ExitStatus]]:
        """The exit code once the process exited and its output ended, and the process's
        delete, started then: as mooraged answers an exec's stream before its
        Tasks.DeleteProcess returns, the floor does not wait for it either."""
        task = container.task()
        assert task is not None
        exec_id = secrets.token_hex(32)
        base = container.record.spec["process"]
        process = await task.exec(
            exec_id, {**base, "args": args, "terminal": False}, StdioSpec(stdout=True, stderr=True)
        )
        exited = self.backend.wait(container.id, exec_id)
        await process.start()
        await asyncio.gather(_drain(process.stdio.stdout), _drain(process.stdio.stderr))
        code = await exited
        return code, asyncio.ensure_future(process.delete())

    async def stats(self, container: RemoteContainer) -> None:
        task = container.task()
        assert task is not None
        await task.stats()

    async def kill_wait(self, container: RemoteContainer) -> int:
        task = container.task()
        assert task is not None
        exited = self.backend.wait(container.id, INIT_PROCESS_ID)
        await task.kill(signal.SIGKILL)
        code = await exited
        await task.delete()  # as the daemon does on the exit event
        return code

    async def delete(self, container: RemoteContainer, drains: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*drains)
        await container.delete()
        with contextlib.suppress(OSError):
            for path in (self.workdir / "containers" / container.id).iterdir():
                path.unlink()
            (self.workdir / "containers" / container.id).rmdir()

    async def lifecycle(
        self, cmd: list[str], marks: list[float], spec_edit: SpecEdit | None = None
    ) -> None:
        """The whole lifecycle; `marks` gets the clock after each step."""
        marks.append(time.perf_counter())
        container = await self.create(cmd, spec_edit)
        marks.append(time.perf_counter())
        drains = await self.start_task(container)
        marks.append(time.perf_counter())
        _, deleting = await self.exec(container, ["true"])
        marks.append(time.perf_counter())
        await asyncio.gather(self.stats(container), deleting)
        marks.append(time.perf_counter())
        await self.kill_wait(container)
        marks.append(time.perf_counter())
        await self.delete(container, drains)
        marks.append(time.perf_counter())
