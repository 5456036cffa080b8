"""The client's single `Events.Subscribe` stream, kept alive across containerd restarts.

A subscription only counts as live once an event published after it was opened
comes back on it: containerd sends no headers when it subscribes, so publishing a
sync marker is the one way to know that nothing published later can be missed.
Only then does the caller read containerd's state (restore, or the post-gap
reconcile), which is what makes an exit during the gap impossible to lose.

The subscription asks only for the topics the client decodes (and its own sync
marker): every other event of the namespace (a lifecycle has about as many of
those, for containers, snapshots and task deletes, as task events) would cost an
HTTP/2 frame and an envelope decode each, to be dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection

from ..errors import from_grpc
from .gen.containerd.services.events.v1 import Envelope, PublishRequest, SubscribeRequest
from .gen.google.protobuf import Any, Empty
from .rpc import Connection
from .wirecodec import encode

log = logging.getLogger(__name__)

SYNC_TOPIC = "/moorage/sync"
RETRY_INITIAL = 0.05
RETRY_MAX = 2.0

EnvelopeHandler = Callable[[Envelope], None]
Reconciler = Callable[[], Awaitable[None]]


class EventMonitor:
    def __init__(
        self,
        conn: Connection,
        on_envelope: EnvelopeHandler,
        reconcile: Reconciler,
        topics: Collection[str],
    ) -> None:
        self._conn = conn
        self._on_envelope = on_envelope
        self._topics = tuple(topics)
        self._reconcile = reconcile
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self._token = ""
        self.subscriptions = 0

    async def start(self, timeout: float = 30.0) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="containerd-events")
        await self.wait_live(timeout)

    async def wait_live(self, timeout: float) -> None:
        live = asyncio.ensure_future(self._live.wait())
        assert self._task is not None
        done, _ = await asyncio.wait(
            {live, self._task}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if live not in done:
            live.cancel()
            if self._task in done:
                self._task.result()
            raise TimeoutError("the containerd event stream did not come up")

    @property
    def live(self) -> bool:
        return self._live.is_set()

    async def _run(self) -> None:
        delay = RETRY_INITIAL
        first = True
        while True:
            try:
                await self._subscribe(first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._live.is_set():
                    log.warning("containerd event stream broke: %s", from_grpc(exc))
                else:
                    log.debug("containerd event stream not up yet: %s", exc)
            if self._live.is_set():
                self._live.clear()
                delay = RETRY_INITIAL
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _subscribe(self, first: bool) -> None:
        self._token = secrets.token_hex(8)
        # containerd ORs the filters; within one, the conditions are ANDed.
        namespace = f'namespace=="{self._conn.namespace}"'
        topics = (*self._topics, f"{SYNC_TOPIC}/{self._token}")
        stream = self._conn.stubs.events.subscribe(
            SubscribeRequest(filters=[f'{namespace},topic=="{topic}"' for topic in topics])
        )
        sync = asyncio.get_running_loop().create_task(self._publish_sync(self._token))
        try:
            async for envelope in stream:
                if envelope.topic.startswith(SYNC_TOPIC):
                    if envelope.topic.endswith(self._token) and not self._live.is_set():
                        self.subscriptions += 1
                        if not first:
                            await self._reconcile()
                        self._live.set()
                    continue
                self._on_envelope(envelope)
            raise ConnectionError("containerd closed the event stream")
        finally:
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sync
            with contextlib.suppress(Exception):
                await stream.aclose()

    async def _publish_sync(self, token: str) -> None:
        # The stream request goes out when iteration starts; publish until we see a marker.
        delay = 0.01
        while True:
            await asyncio.sleep(delay)
            if self._live.is_set() and self._token == token:
                return
            with contextlib.suppress(Exception):
                await self._conn.stubs.events.publish(
                    PublishRequest(
                        topic=f"{SYNC_TOPIC}/{token}",
                        event=Any(type_url="google.protobuf.Empty", value=encode(Empty())),
                    )
                )
            delay = min(delay * 4, 1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
