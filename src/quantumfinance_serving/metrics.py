"""Prometheus metrics of one app instance (own registry, so several apps can live in a process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from quantumfinance_serving.model_store import ModelStore


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
        self.reload_failures = Counter(
            "qf_model_reload_failures_total",
            "Model loads/reloads that failed (the previous model, if any, keeps serving)",
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "qf_audit_failures_total",
            "Audit writes that failed (their decisions were not returned: 503)",
            registry=self.registry,
        )

    def watch(self, store: ModelStore) -> None:
        """Export the store's state (read at each scrape) with this registry."""
        self.registry.register(ModelCollector(store))

    def count_decisions(self, bands: list[str], decisions: list[str]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for key in zip(bands, decisions, strict=True):
            counts[key] = counts.get(key, 0) + 1
        for (band, decision), n in counts.items():
            self.decisions.labels(band, decision).inc(n)


class ModelCollector(Collector):
    """The served model's gauges, read from the store at scrape time."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        current = self.store.current
        yield GaugeMetricFamily("qf_model_ready", "1 once a model is loaded", current is not None)
        version = GaugeMetricFamily(
            "qf_model_version",
            "Registry version of the loaded model (0 while none or loaded by path)",
            labels=["model"],
        )
        if current is not None:
            number = current.identity.version
            version.add_metric(
                [current.identity.name], float(number) if number and number.isdigit() else 0
            )
        yield version
        yield GaugeMetricFamily(
            "qf_model_lagging_alias",
            "1 while the served version is not the one the followed alias points to",
            float(self.store.lagging),
        )


# Label values come from fixed sets, whatever a caller sends: any other method is "other", any
# path no route template matches (or a method its route does not take) is "unmatched" (a label
# per made-up method or path grew /metrics by megabytes and slowed every scrape).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def route_label(scope: Scope) -> str:
    """The template of the route serving the request (``/v1/model/plots/{name}``), also for a
    request refused before routing (401, 415, 429 ...); ``unmatched`` for any other path and
    for a method its route does not take (else each method a prober tries on each route would
    add a histogram of its own)."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(app, "routes", ()):
            if candidate.matches(scope)[0] is Match.FULL:
                route = candidate
                break
    elif scope["method"] not in (getattr(route, "methods", None) or {scope["method"]}):
        route = None  # routed, but answered 405
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


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
            method, route = method_label(scope["method"]), route_label(scope)
            self.metrics.requests.labels(method, route, str(status[0])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
