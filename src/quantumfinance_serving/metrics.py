"""Prometheus metrics of one app instance (own registry, so several apps can live in a process)."""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)


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
        self.unmatched = UnmatchedTally()

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


# Label values come from a fixed set, whatever a caller sends: `route` is the template of one of
# the app's routes and `method` one that route takes (or OPTIONS). A request no route template
# matches (or with another method its route does not take: 405) is not in these metrics, as
# starlette-exporter's `filter_unhandled_paths` default does: a label per made-up method or path
# grew /metrics by megabytes, and even one shared "unmatched" label let any prober move the
# figures. Such requests are tallied and logged once a minute instead (`UnmatchedTally`). Scrapes
# of /metrics are not counted either (the scraper times its own scrapes), so /metrics changes
# only with what the app did.
UNCOUNTED_ROUTES = frozenset({"/metrics"})
TALLY_SECONDS = 60.0


def route_label(scope: Scope) -> str | None:
    """The template of the route serving the request (``/v1/model/plots/{name}``), also for a
    request refused before routing (401, 415, 429 ...) and for OPTIONS on a route's path (a
    CORS preflight); None for any other path and for any other method its route does not
    take."""
    preflight = scope["method"] == "OPTIONS"
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(app, "routes", ()):
            match = candidate.matches(scope)[0]
            if match is Match.FULL or (preflight and match is Match.PARTIAL):
                route = candidate
                break
    elif not preflight:
        methods = getattr(route, "methods", None)  # None: a mount, any method
        if methods is not None and scope["method"] not in methods:
            route = None  # routed, but answered 405
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class UnmatchedTally:
    """Requests that matched no route, by status: one log line per ``every`` seconds at most
    (written by the first such request after the interval, and at shutdown), so a flood of
    probes is visible without growing /metrics or the log."""

    def __init__(self, every: float = TALLY_SECONDS) -> None:
        self.every = every
        self.since = time.monotonic()
        self.by_status: dict[int, int] = {}

    def add(self, status: int) -> None:
        if not self.by_status:
            self.since = time.monotonic()
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if time.monotonic() - self.since >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.by_status:
            return
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.by_status.items()))
        logger.info(
            "requests that matched no route in the last %.0f s: %d (by status %s); not in /metrics",
            time.monotonic() - self.since,
            sum(self.by_status.values()),
            statuses,
        )
        self.by_status = {}


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
            route = route_label(scope)
            if route is None:
                self.metrics.unmatched.add(status[0])
            elif route not in UNCOUNTED_ROUTES:
                method = scope["method"]
                self.metrics.requests.labels(method, route, str(status[0])).inc()
                self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
