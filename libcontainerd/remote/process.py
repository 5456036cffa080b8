"""An exec'd process of a task: created by `Task.exec`, kept by the daemon until deleted."""

from __future__ import annotations

from ..errors import NotFoundError
from ..fifo import FifoSet
from ..types import ExitStatus
from .gen.containerd.services.tasks.v1 import (
    CloseIoRequest,
    DeleteProcessRequest,
    KillRequest,
    ResizePtyRequest,
    StartRequest,
)
from .rpc import Connection, call


class RemoteProcess:
    def __init__(
        self,
        conn: Connection,
        container_id: str,
        exec_id: str,
        stdio: FifoSet,
        pid: int = 0,
        listed_in: dict[str, RemoteProcess] | None = None,
    ) -> None:
        self._conn = conn
        self.container_id = container_id
        self._exec_id = exec_id
        self._stdio = stdio
        self._pid = pid
        # The task's table of its live execs, left once this one is deleted.
        self._listed_in = listed_in

    @property
    def id(self) -> str:
        return self._exec_id

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def stdio(self) -> FifoSet:
        return self._stdio

    async def start(self) -> int:
        resp = await call(
            self._conn.stubs.tasks.start(
                StartRequest(container_id=self.container_id, exec_id=self._exec_id)
            ),
            self.container_id,
        )
        self._pid = resp.pid
        return self._pid

    async def kill(self, signal: int) -> None:
        await call(
            self._conn.stubs.tasks.kill(
                KillRequest(container_id=self.container_id, exec_id=self._exec_id, signal=signal)
            ),
            self.container_id,
        )

    async def resize(self, width: int, height: int) -> None:
        await call(
            self._conn.stubs.tasks.resize_pty(
                ResizePtyRequest(
                    container_id=self.container_id,
                    exec_id=self._exec_id,
                    width=width,
                    height=height,
                )
            ),
            self.container_id,
        )

    async def close_stdin(self) -> None:
        # The shim keeps a write end of the stdin FIFO open itself, so closing ours is not
        # EOF for the process: CloseIO tells the shim to close the process's stdin.
        await self._stdio.end_stdin()
        await call(
            self._conn.stubs.tasks.close_io(
                CloseIoRequest(container_id=self.container_id, exec_id=self._exec_id, stdin=True)
            ),
            self.container_id,
        )

    def _forget(self) -> None:
        if self._listed_in is not None:
            self._listed_in.pop(self._exec_id, None)

    async def delete(self) -> ExitStatus:
        try:
            resp = await call(
                self._conn.stubs.tasks.delete_process(
                    DeleteProcessRequest(container_id=self.container_id, exec_id=self._exec_id)
                ),
                self.container_id,
            )
        except NotFoundError:
            self._forget()
            raise
        self._forget()
        self._stdio.unlink()
        return ExitStatus(resp.exit_status, resp.exited_at, resp.pid)
