"""Network setup and teardown time per container, measured on moorage's own code.

Run as root: `.venv/bin/python -m bench.netsetup [-n 100]`. It makes a private network
namespace (`ip netns add`), re-runs itself inside it with `nsenter --net=`, and there
times, for N containers in a row, what a start and an exit cost moorage's networking:
setup = the namespace (unshare + bind mount), the default bridge (made once), a veth
pair with address, MAC, default route and loopback; teardown = releasing the endpoint
and unbinding the namespace. Then the same with one published port (held socket and
an nftables map element added and deleted), and on a user-defined network (the
embedded DNS server's sockets bound in the namespace and served). No container process
is involved (containerd's cost is measured by bench.compare). The namespace is deleted
at the end; the machine's own network is never touched.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.engines import rerun_in_private_netns
from daemon.network.manager import CreateRequest, NetworkManager
from daemon.network.runtime import NetworkRuntime
from daemon.network.store import NetworkStore


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _measure(count: int, workdir: Path) -> dict[str, list[float]]:
    manager = NetworkManager(NetworkStore(workdir / "data" / "network"), lambda *_: None)
    manager.load()
    runtime = NetworkRuntime(manager, workdir / "exec", enabled=True)
    results: dict[str, list[float]] = {}
    plain: dict[str, Any] = {"NetworkMode": "default"}
    published = {**plain, "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}}
    manager.create(CreateRequest("benchnet"))  # a user network: embedded DNS sockets too
    user: dict[str, Any] = {"NetworkMode": "benchnet"}
    for label, host_config in (("", plain), (" -p :80", published), (" user network", user)):
        setup, teardown = await _cycle(runtime, manager, host_config, count)
        results[f"setup{label}"] = setup
        results[f"teardown{label}"] = teardown
    runtime.ports.close()
    await runtime.firewall.remove()
    return results


async def _cycle(
    runtime: NetworkRuntime, manager: NetworkManager, host_config: dict[str, Any], count: int
) -> tuple[list[float], list[float]]:
    setup: list[float] = []
    teardown: list[float] = []
    for _ in range(count):
        container_id = secrets.token_hex(32)
        runtime.container_created(container_id, "/bench", host_config)
        started = time.perf_counter()
        await runtime.setup(container_id, "/bench", {}, host_config)
        setup.append(time.perf_counter() - started)
        started = time.perf_counter()
        await runtime.teardown(container_id)
        teardown.append(time.perf_counter() - started)
        manager.container_removed(container_id)
    return setup, teardown


def _inside(count: int) -> None:
    import uvloop  # the daemon's loop

    with tempfile.TemporaryDirectory(prefix="moorage-netbench-") as directory:
        results = uvloop.run(_measure(count, Path(directory)))
    print(
        f"network setup and teardown per container, n={count} (the first setup makes the "
        "bridge; -p :80 publishes one ephemeral port: one nft batch each way)"
    )
    print("| step | p50 ms | p90 ms | max ms |")
    print("|---|---|---|---|")
    for step, values in results.items():
        ms = [v * 1000 for v in values]
        print(
            f"| {step} | {statistics.median(ms):.2f} | {_percentile(ms, 0.9):.2f} | {max(ms):.2f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="containers (default 100)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        _inside(args.n)
        return 0
    return rerun_in_private_netns("bench.netsetup", ["-n", str(args.n)])


if __name__ == "__main__":
    sys.exit(main())
