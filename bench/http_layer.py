"""The API server's own CPU per request, without the daemon: trees side by side.

    .venv/bin/python -m bench.http_layer [--tree NAME=PATH ...] [-n 5000] [--block 50]
                                         [--rounds 3] [--in-process]

Each tree's API server (``api.server.make_app`` and ``serve``, as mooraged runs them, on
uvloop) is started with handlers that answer at once, in the shapes of the lifecycle's
replies: a container's JSON (inspect), a JSON body in and a 201 out (create), a 204
(kill, start, delete), a 404 through the error mapping, the ping, and a wait's streamed
reply (chunked, the connection closed after it: the next one is a new connection, as in
the lifecycle). A raw client sends each kind in turns of `--block` requests to each
server on one connection (the order of the trees alternating); a server's CPU time over
its turns (/proc/PID/task/*/schedstat) divided by `-n` is one request's cost in the HTTP
layer alone: parsing, routing, version, error mapping, reply framing and the event loop's
system calls. ``bench/http_cost.py`` measures the same with the real daemon's handlers,
where the handlers' own costs and the daemon's background work blur the difference.
With ``--in-process``, no sockets: each server's connections are fed in memory and the
server process times itself (``feed``), which leaves the system calls and most of a
loaded machine's noise out of the number. Needs no containerd and no root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# name -> (request bytes, status expected)
_CREATE_BODY = b'{"Image":"busybox","Cmd":["true"],"HostConfig":{}}'
REQUESTS: dict[str, tuple[bytes, int]] = {
    "ping": (b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", 200),
    "inspect": (b"GET /v1.41/containers/c1/json HTTP/1.1\r\nHost: docker\r\n\r\n", 200),
    "create": (
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(_CREATE_BODY), _CREATE_BODY),
        201,
    ),
    "kill": (
        b"POST /v1.41/containers/c1/kill HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        204,
    ),
    "error-404": (b"GET /v1.41/containers/nosuch/stats HTTP/1.1\r\nHost: docker\r\n\r\n", 404),
    "wait": (
        b"POST /v1.41/containers/c1/wait HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        200,
    ),
}
WARMUP = 100


# --- the server (runs with the tree's own `api` package first on its path) -------------


def _make_app() -> Any:
    """The API server's application with handlers in the shapes of the lifecycle's replies."""
    from aiohttp import web

    from api.routes.common import json_reply
    from api.server import make_app
    from api.streams import StreamingReply
    from daemon.errors import NotFound

    inspected = {
        "Id": "c1" * 32,
        "Created": "2026-01-01T00:00:00.000000000Z",
        "Path": "sleep",
        "Args": ["3600"],
        "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
        "Config": {"Env": [f"VAR{i}=value" for i in range(8)], "Cmd": ["sleep", "3600"]},
        "HostConfig": {"Binds": None, "Memory": 0, "NetworkMode": "default"},
        "Mounts": [],
    }

    async def inspect(request: web.Request) -> web.Response:
        return json_reply(inspected)

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return json_reply({"Id": "c2" * 32, "Warnings": []}, status=201)

    async def kill(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        raise NotFound(f"No such container: {request.match_info['name']}")

    async def wait(request: web.Request) -> web.StreamResponse:
        reply = StreamingReply(request)
        await reply.start()
        return await reply.finish(b'{"Error":null,"StatusCode":0}\n')

    app = make_app()
    app.router.add_get("/containers/{name}/json", inspect)
    app.router.add_post("/containers/create", create)
    app.router.add_post("/containers/{name}/kill", kill)
    app.router.add_get("/containers/{name}/stats", stats)
    app.router.add_post("/containers/{name}/wait", wait)
    return app


def serve(path: str) -> None:
    import uvloop

    from api.server import UnixSocketOwner
    from api.server import serve as serve_api

    async def main() -> None:
        await serve_api(_make_app(), [f"unix://{path}"], socket_owner=UnixSocketOwner("root"))
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


class _MemoryTransport(asyncio.Transport):
    """What the server's connection writes to, in memory (``--in-process``)."""

    def __init__(self, written: Callable[[], None]) -> None:
        super().__init__()
        self.data = bytearray()
        self.closing = False
        self.protocol: Any = None
        self._written = written

    def write(self, data: Any) -> None:
        self.data += data
        self._written()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)
            self._written()

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def get_write_buffer_size(self) -> int:
        return 0


def feed(kind: str, n: int) -> None:
    """``--in-process``: the server's own connection objects (``ApiRunner``'s, as
    ``serve`` makes them) fed `kind`'s request `n` times through a transport in memory,
    on uvloop; prints this process's CPU us per request (the best of 3 passes). No
    sockets: no system calls and no scheduler in the number, so a loaded machine blurs
    it much less; a reply that closes its connection makes the next request come on a
    new one, as over the socket."""
    import uvloop

    from api.limits import ApiRunner, ServerLimits

    request, want = REQUESTS[kind]
    streamed = kind == "wait"

    async def main() -> None:
        runner = ApiRunner(
            _make_app(),
            handle_signals=False,
            handler_cancellation=False,
            **ServerLimits().handler_options(),
        )
        await runner.setup()
        server = runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def written() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def connect() -> tuple[Any, _MemoryTransport]:
            protocol = server()
            transport = _MemoryTransport(written)
            transport.protocol = protocol
            protocol.connection_made(transport)
            return protocol, transport

        protocol, transport = connect()

        async def exchange() -> None:
            nonlocal protocol, transport, waiter
            if transport.closing:
                protocol, transport = connect()
            transport.data.clear()
            waiter = loop.create_future()
            protocol.data_received(request)
            while True:
                await waiter
                if not streamed or transport.data.endswith(b"0\r\n\r\n"):
                    break
                waiter = loop.create_future()
            if not transport.data.startswith(b"HTTP/1.1 %d " % want):
                raise RuntimeError(f"{kind}: {bytes(transport.data[:60])!r}")
            # The request's task ends after its reply is written.
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        for _ in range(WARMUP):
            await exchange()
        passes = []
        for _ in range(3):
            started = time.process_time()
            for _ in range(n):
                await exchange()
            passes.append((time.process_time() - started) / n * 1e6)
        await runner.cleanup()
        print(f"{min(passes):.2f}", flush=True)

    uvloop.run(main())


# --- the client ---------------------------------------------------------------------------


class Connection:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.buffer = b""

    def exchange(self, request: bytes, want: int) -> None:
        """One request and its whole reply; a reply that closes the connection closes
        ours (the next request opens a new one)."""
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
            self.buffer = b""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if status != want:
            raise RuntimeError(f"{lines[0]!r}, wanted {want}")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        if headers.get("transfer-encoding") == "chunked":
            while not self.buffer.endswith(b"0\r\n\r\n"):
                self._more()
            self.buffer = b""
        else:
            length = int(headers.get("content-length", "0"))
            while len(self.buffer) < length:
                self._more()
            self.buffer = self.buffer[length:]
        if headers.get("connection") == "close":
            self.close()

    def _more(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("server closed the connection mid-reply")
        self.buffer += data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def measure(
    servers: dict[str, tuple[subprocess.Popen[bytes], str]], n: int, block: int
) -> dict[str, dict[str, float]]:
    # Imported here: the servers run this file with another tree first on their path.
    from bench import procstat

    out: dict[str, dict[str, float]] = {name: {} for name in servers}
    names = list(servers)
    for kind, (request, want) in REQUESTS.items():
        conns = {name: Connection(path) for name, (_, path) in servers.items()}
        try:
            for name in names:
                for _ in range(WARMUP):
                    conns[name].exchange(request, want)
            spent = dict.fromkeys(names, 0)
            for turn in range(n // block):
                for name in names if turn % 2 == 0 else reversed(names):
                    pid = servers[name][0].pid
                    before = procstat.runtime_ns(pid)
                    for _ in range(block):
                        conns[name].exchange(request, want)
                    spent[name] += procstat.runtime_ns(pid) - before
            for name in names:
                out[name][kind] = spent[name] / 1e3 / (n // block * block)
        finally:
            for conn in conns.values():
                conn.close()
    return out


def _in_tree(tree: Path, *argv: str) -> list[str]:
    """The command that runs this file with `argv` and `tree`'s packages first on the path:
    by path, not as bench.http_layer (the tree may not have it), and not as a script (its
    directory, bench/, would come first on the path and shadow the stdlib's `profile`)."""
    code = "import runpy, sys; sys.argv[1:] = sys.argv[1:];"
    code += f" runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
    return [sys.executable, "-c", code, *argv]


def _start(tree: Path, path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        _in_tree(tree, "--serve", path), cwd=tree, env=env, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise RuntimeError(f"the API server of {tree} did not start")
    return proc


def run_in_process(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """``--in-process``: each tree's `feed` for each kind, a process each, the trees'
    order alternating."""
    results: dict[str, dict[str, list[float]]] = {
        name: {kind: [] for kind in REQUESTS} for name in args.trees
    }
    names = list(args.trees)
    for round_ in range(args.rounds):
        for index, kind in enumerate(REQUESTS):
            for name in names if (round_ + index) % 2 == 0 else reversed(names):
                tree = args.trees[name]
                env = {**os.environ, "PYTHONPATH": str(tree)}
                out = subprocess.run(
                    _in_tree(tree, "--feed", kind, "-n", str(args.n)),
                    cwd=tree,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results[name][kind].append(float(out.split()[-1]))
        for name in names:
            summary = ", ".join(f"{k} {v[-1]:.1f}" for k, v in results[name].items())
            print(f"round {round_ + 1} {name}: {summary} us", file=sys.stderr, flush=True)
    return results


def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    if args.in_process:
        return run_in_process(args)
    results: dict[str, dict[str, list[float]]] = {
        name: {kind: [] for kind in REQUESTS} for name in args.trees
    }
    workdir = Path(tempfile.mkdtemp(prefix="mhl", dir="/tmp"))
    try:
        for round_ in range(args.rounds):
            servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
            try:
                for index, (name, tree) in enumerate(args.trees.items()):
                    path = str(workdir / f"{index}.sock")
                    servers[name] = (_start(tree, path), path)
                costs = measure(servers, args.n, args.block)
            finally:
                for proc, _ in servers.values():
                    proc.terminate()
                    proc.wait()
            for name, kinds in costs.items():
                for kind, us in kinds.items():
                    results[name][kind].append(us)
                summary = ", ".join(f"{k} {v:.0f}" for k, v in kinds.items())
                print(f"round {round_ + 1} {name}: {summary} us", file=sys.stderr, flush=True)
    finally:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
    return results


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    # Imported here: `--serve` runs this file in other checkouts, whose bench may lack it.
    from bench.engines import per_request_table

    how = "in process, no sockets" if args.in_process else f"turns of {args.block}"
    heading = (
        f"API server CPU us per request (HTTP layer only), median of {args.rounds} rounds"
        f" of {args.n} ({how}); load average at start {args.load_at_start}"
    )
    return per_request_table(heading, results, REQUESTS, lambda us: f"{us:.1f}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="http_layer", description=__doc__.split("\n")[0])
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH of a moorage checkout")
    p.add_argument("-n", type=int, default=5000, help="requests of each kind per round")
    p.add_argument("--block", type=int, default=50, help="requests a server answers per turn")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--in-process",
        action="store_true",
        help="feed each server's connection in memory: no sockets, no system calls",
    )
    p.add_argument("--serve", default="", help=argparse.SUPPRESS)
    p.add_argument("--feed", default="", choices=["", *REQUESTS], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve or args.feed:
        return args
    trees: dict[str, Path] = {}
    for spec in args.tree or [f"this={REPO}"]:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path, "api").is_dir():
            p.error(f"--tree wants NAME=PATH of a moorage checkout: {spec}")
        trees[name] = Path(path).resolve()
    args.trees = trees
    if args.block < 1 or args.n < args.block or args.rounds < 1:
        p.error("--block and --rounds must be at least 1, -n at least --block")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.feed:
        feed(args.feed, args.n)
        return 0
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.monotonic()
    text = report(run(args), args)
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
