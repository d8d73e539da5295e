"""The abuse soak (issue 21): valid traffic while, in parallel, a keyed client sends validation
bombs at its full rate limit, unauthenticated junk arrives (made-up methods and paths, 8 MB
bodies, 64 KB headers) and 200 connections trickle their request heads.

Shared by `make test` (tests/serving/test_abuse_soak.py, 30 s) and `make bench`
(benchmarks/bench_abuse.py, 5 minutes). Each kind of traffic runs in a process of its own (spawned,
so that the load generator's own GIL does not blur the latencies it measures), paced, bounded in
time and count, to 127.0.0.1 only. The server is a real `python -m quantumfinance_serving` process
whose RSS is read from /proc.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import selectors
import socket
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

VALID_WORKERS = 8
SLOW_CONNECTIONS = 200
HEALTH_EVERY = 0.1  # seconds between two /health probes
MB = 1_000_000


@dataclass(frozen=True)
class Plan:
    """What the soak sends: to ``url`` with these keys, for ``seconds`` (after a quiet phase)."""

    url: str
    valid_keys: list[str]  # one per valid worker (the limit is per key)
    bomb_key: str
    applicant: dict[str, Any]
    bombs_per_second: float  # the bomb key's full rate limit (0: no bombs)
    valid_per_second: float = 8.0  # per valid worker, under its key's limit
    seconds: float = 30.0
    quiet_seconds: float = 10.0
    junk_per_second: float = 20.0
    big_bodies_per_second: float = 1.0
    # A key of its own that the warm-up runs past its limit, so that the 429 series of the
    # scoring routes exist before the measurement (the bombs hit that limit now and then).
    warm_key: str | None = None


@dataclass
class Outcome:
    quiet_p99_ms: float
    loaded_p99_ms: float
    valid_requests: int
    statuses: dict[str, dict[int | str, int]]
    health_max_ms: float
    health_probes: int
    rss_growth_mb: float
    rss_start_mb: float
    metrics_new_series: list[str]
    metrics_bytes: tuple[int, int]
    slow_connections_held: int
    slow_heads_cut_off: int
    failures: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(
            n for by_status in self.statuses.values() for s, n in by_status.items()
            if isinstance(s, int) and s >= 500
        )  # fmt: skip


def _pace(interval: float, deadline: float):
    """Yield at a steady ``interval`` until ``deadline`` (no catch-up bursts after a stall)."""
    next_at = time.monotonic()
    while (now := time.monotonic()) < deadline:
        if next_at > now:
            time.sleep(next_at - now)
        yield
        next_at = max(next_at + interval, time.monotonic() - interval)


def _valid_worker(url: str, key: str, applicant: dict, per_second: float, seconds: float):
    latencies: list[float] = []
    statuses: Counter = Counter()
    body = json.dumps(applicant).encode()
    headers = {"x-api-key": key, "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in _pace(1 / per_second, time.monotonic() + seconds):
            started = time.perf_counter()
            try:
                status: int | str = client.post(
                    "/v1/score", content=body, headers=headers
                ).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
    return latencies, statuses


def valid_traffic(url: str, keys: list[str], applicant: dict, per_second: float, seconds: float):
    """Scores at ``per_second`` per worker, one worker (and key) per thread; latencies, statuses."""
    results: list[Any] = [None] * len(keys)

    def run(i: int) -> None:
        results[i] = _valid_worker(url, keys[i], applicant, per_second, seconds)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [x for lat, _ in results for x in lat]
    statuses = sum((s for _, s in results), Counter())
    return latencies, dict(statuses)


def bomb_bodies() -> list[bytes]:
    """Bodies that are cheap to send and were expensive to validate (issue 21's measurements)."""
    rng = random.Random(21)
    unknown_keys = {f"k{rng.getrandbits(64):x}": 1 for _ in range(50_000)}
    return [
        b'{"applicants": [' + b",".join([b"{}"] * 100_000) + b"]}",  # over QF_MAX_BATCH
        b'{"applicants": [' + b",".join([b"{}"] * 10_000) + b"]}",  # at QF_MAX_BATCH
        json.dumps(unknown_keys).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"x" * MB: 1}).encode(),  # a 1 MB key name
    ]


def bombs(url: str, key: str, per_second: float, seconds: float):
    """A keyed client sending validation bombs to both scoring routes at ``per_second``."""
    statuses: Counter = Counter()
    bodies = bomb_bodies()
    headers = {"x-api-key": key, "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=60) as client:
        for i, _ in enumerate(_pace(1 / per_second, time.monotonic() + seconds)):
            path = "/v1/score/batch" if i % 2 else "/v1/score"
            try:
                statuses[
                    client.post(path, content=bodies[i % len(bodies)], headers=headers).status_code
                ] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
    return dict(statuses)


JUNK_METHODS = ("GET", "POST", "DELETE", "BREW")  # and a made-up one (label "other", as BREW)
JUNK_PREFIXES = ("/", "/v1/", "/v1/model/", "/docs/")


def _random_request(rng: random.Random) -> tuple[str, str]:
    method = rng.choice([*JUNK_METHODS, "".join(rng.choices("QWERTYUIOP", k=6))])
    tail = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_.", k=rng.randint(1, 40)))
    return method, rng.choice(JUNK_PREFIXES) + tail


def label_sweep(url: str, warm_key: str) -> None:
    """A 429 on both scoring routes (from ``warm_key``), the one label combination the clients
    reach only at their full rate: it exists before the measured phase. Junk on paths no route
    matches is in no label at all (quantumfinance_serving.metrics)."""
    headers = {"x-api-key": warm_key, "content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(100_000):
            if client.post("/v1/score", content=b"{}", headers=headers).status_code == 429:
                break
        client.post("/v1/score/batch", content=b"{}", headers=headers)


def junk(url: str, per_second: float, big_per_second: float, seconds: float):
    """Unauthenticated: made-up methods and paths, 64 KB headers and (at ``big_per_second``)
    8 MB bodies. Refused before any work; a connection the server closes mid-upload is fine."""
    statuses: Counter = Counter()
    rng = random.Random(7)
    big_body = b"{" + b" " * (8 * MB - 2) + b"}"
    every_big = max(1, round(per_second / big_per_second))
    with httpx.Client(base_url=url, timeout=30) as client:
        for i, _ in enumerate(_pace(1 / per_second, time.monotonic() + seconds)):
            try:
                if i % every_big == 0:
                    response = client.post(
                        "/v1/score/batch",
                        content=big_body,
                        headers={"content-type": "application/json"},
                    )
                elif i % 5 == 1:
                    response = client.get("/v1/model", headers={"x-junk": "a" * 65_536})
                else:
                    response = client.request(*_random_request(rng))
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
    return dict(statuses)


def slow_heads(port: int, connections: int, seconds: float):
    """``connections`` sockets, each sending its request head a byte a second; one closed by
    the server is replaced at once. Returns (most held at once, closes by the server, answers)."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
    selector = selectors.DefaultSelector()
    sent: dict[socket.socket, int] = {}
    answers: Counter = Counter()
    cut_off = held = 0

    def open_one() -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        sock.send(head[:10])
        sent[sock] = 10
        selector.register(sock, selectors.EVENT_READ)

    deadline = time.monotonic() + seconds
    for _ in range(connections):
        open_one()
    for _ in _pace(1.0, deadline):
        for key, _ in selector.select(timeout=0):
            sock = key.fileobj
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if data:
                answers[data.split(b"\r\n", 1)[0].decode(errors="replace")] += 1
            selector.unregister(sock)
            sock.close()
            del sent[sock]
            cut_off += 1
            open_one()
        held = max(held, len(sent))
        for sock, n in list(sent.items()):
            try:
                sock.send(head[n : n + 1])
                sent[sock] = n + 1
            except OSError:
                pass  # closed by the server: picked up by the selector next round
    for sock in sent:
        sock.close()
    return held, cut_off, dict(answers)


def _probe(port: int) -> bool:
    """GET /health on a new connection, as an orchestrator's probe does (raw socket: an HTTP
    client's own set-up, e.g. loading CA certificates, would be measured too)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.startswith(b"HTTP/1.1 200 ")


def health(port: int, every: float, seconds: float) -> list[float]:
    """Latencies of GET /health every ``every`` seconds (inf: not answered 200)."""
    latencies = []
    for _ in _pace(every, time.monotonic() + seconds):
        started = time.perf_counter()
        try:
            ok = _probe(port)
        except OSError:
            ok = False
        latencies.append(time.perf_counter() - started if ok else float("inf"))
    return latencies


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def metrics_shape(url: str, key: str) -> tuple[str, int]:
    """/metrics with every sample value blanked (which series exist), and its raw size."""
    text = httpx.get(f"{url}/metrics", headers={"x-api-key": key}, timeout=30).text
    return re.sub(r"^([^#\s][^ ]*) \S+$", r"\1 _", text, flags=re.M), len(text)


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000


def soak(plan: Plan, server_pid: int) -> Outcome:
    """Warm up, measure the valid traffic alone, then run everything at once; the outcome."""
    port = int(plan.url.rsplit(":", 1)[1])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(6, mp_context=context) as pool:
        # Warm-up: every kind of request once (series exist, first-use allocations are made).
        warm = [
            pool.submit(valid_traffic, plan.url, plan.valid_keys, plan.applicant, 2, 2),
            pool.submit(junk, plan.url, 20, 1, 3),  # past QF_AUTH_FAILURE_LIMIT's default: 429s
            pool.submit(slow_heads, port, 5, 2),
            pool.submit(health, port, HEALTH_EVERY, 2),
        ]
        if plan.bombs_per_second > 0:
            warm.append(pool.submit(bombs, plan.url, plan.bomb_key, len(bomb_bodies()) / 2, 2.5))
        for future in warm:
            future.result()
        if plan.warm_key:
            label_sweep(plan.url, plan.warm_key)
        shape_before, size_before = metrics_shape(plan.url, plan.valid_keys[0])
        quiet, _ = pool.submit(
            valid_traffic, plan.url, plan.valid_keys, plan.applicant, plan.valid_per_second,
            plan.quiet_seconds,
        ).result()  # fmt: skip
        rss_start = rss_mb(server_pid)
        started = time.monotonic()
        futures = {
            "valid": pool.submit(
                valid_traffic, plan.url, plan.valid_keys, plan.applicant, plan.valid_per_second,
                plan.seconds,
            ),
            "bombs": pool.submit(
                bombs, plan.url, plan.bomb_key, plan.bombs_per_second, plan.seconds
            ) if plan.bombs_per_second > 0 else None,
            "junk": pool.submit(
                junk, plan.url, plan.junk_per_second, plan.big_bodies_per_second, plan.seconds
            ),
            "slow": pool.submit(slow_heads, port, SLOW_CONNECTIONS, plan.seconds),
            "health": pool.submit(health, port, HEALTH_EVERY, plan.seconds),
        }  # fmt: skip
        rss_peak = rss_start
        while not all(f.done() for f in futures.values() if f is not None):
            rss_peak = max(rss_peak, rss_mb(server_pid))
            time.sleep(0.25)
            if time.monotonic() - started > plan.seconds + 120:
                raise TimeoutError("the soak's clients did not finish")
        loaded, valid_statuses = futures["valid"].result()
        held, cut_off, slow_answers = futures["slow"].result()
        probes = futures["health"].result()
    shape_after, size_after = metrics_shape(plan.url, plan.valid_keys[0])
    return Outcome(
        quiet_p99_ms=p99(quiet),
        loaded_p99_ms=p99(loaded),
        valid_requests=len(loaded),
        statuses={
            "valid": valid_statuses,
            "bombs": futures["bombs"].result() if futures["bombs"] else {},
            "junk": futures["junk"].result(),
            "slow": slow_answers,
        },
        health_max_ms=max(probes) * 1000,
        health_probes=len(probes),
        rss_growth_mb=rss_peak - rss_start,
        rss_start_mb=rss_start,
        metrics_new_series=sorted(set(shape_after.splitlines()) - set(shape_before.splitlines())),
        metrics_bytes=(size_before, size_after),
        slow_connections_held=held,
        slow_heads_cut_off=cut_off,
    )


def missed_goals(outcome: Outcome) -> list[str]:
    """Issue 21's goals the outcome misses (empty: all held)."""
    missed = []
    if outcome.loaded_p99_ms > 2 * outcome.quiet_p99_ms:
        missed.append(
            f"valid p99 {outcome.loaded_p99_ms:.1f} ms > 2x its quiet {outcome.quiet_p99_ms:.1f} ms"
        )
    if outcome.server_errors:
        missed.append(f"{outcome.server_errors} responses 5xx: {outcome.statuses}")
    if outcome.rss_growth_mb > 50:
        missed.append(f"server RSS grew {outcome.rss_growth_mb:.0f} MB (> 50)")
    if outcome.metrics_new_series:
        missed.append(f"/metrics has new series: {outcome.metrics_new_series[:10]}")
    if outcome.health_max_ms > 100:
        missed.append(f"/health took up to {outcome.health_max_ms:.0f} ms (> 100)")
    if outcome.statuses["valid"].keys() != {200}:
        missed.append(f"valid requests were not all 200: {outcome.statuses['valid']}")
    return missed
