"""Prometheus metrics of one app instance (own registry, so several apps can live in a process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qf_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qf_http_request_duration_seconds",
            "Request latency by route",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.decisions = Counter(
            "qf_decisions_total",
            "Scored applicants by band and decision",
            ["band", "decision"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "qf_model_version",
            "Registry version of the loaded model (0 while none or loaded by path)",
            ["model"],
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "qf_model_ready", "1 once a model is loaded", registry=self.registry
        )

    def count_decisions(self, results: list[dict]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for result in results:
            key = (result["band"], result["decision"])
            counts[key] = counts.get(key, 0) + 1
        for (band, decision), n in counts.items():
            self.decisions.labels(band, decision).inc(n)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): counts and times every request by route."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], path).observe(time.perf_counter() - start)
