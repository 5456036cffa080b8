"""Prometheus metrics: containerd RPCs per method, API requests and latencies per route.

Served on its own listener (`--metrics-addr`), never on the API socket, as dockerd does.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CounterChild = Counter  # what labels() returns: the same class, bound to its label values
HistogramChild = Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.containerd_rpcs = Counter(
            "moorage_containerd_rpcs",
            "containerd RPCs made, per Service.Method",
            ["method"],
            registry=self.registry,
        )
        self.requests = Counter(
            "moorage_api_requests",
            "Engine API requests, per route and status",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moorage_api_request_duration_seconds",
            "Engine API request handling time, per route (streams: until the handler returns)",
            ["method", "route"],
            registry=self.registry,
        )
        # The labelled children, kept: prometheus_client's labels() checks, locks and
        # builds a key on every call, and every request and RPC made one (issue 13).
        self._rpc_counters: dict[str, CounterChild] = {}
        self._request_counters: dict[tuple[str, str, str], CounterChild] = {}
        self._latencies: dict[tuple[str, str], HistogramChild] = {}

    def count_rpc(self, method: str) -> None:
        counter = self._rpc_counters.get(method)
        if counter is None:
            counter = self._rpc_counters[method] = self.containerd_rpcs.labels(method)
        counter.inc()

    def observe_request(self, method: str, route: str, code: int, seconds: float) -> None:
        """One answered request (``api.dispatch``'s observer)."""
        key = (method, route, str(code))
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.requests.labels(*key)
        counter.inc()
        latency = self._latencies.get(key[:2])
        if latency is None:
            latency = self._latencies[key[:2]] = self.latency.labels(method, route)
        latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def app(self) -> web.Application:
        async def serve_metrics(_request: web.Request) -> web.Response:
            return web.Response(
                body=self.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/metrics", serve_metrics)
        return app
