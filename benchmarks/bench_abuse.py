"""Abuse soak: the scoring API's valid traffic while hostile clients do their worst (issue 21).

The soak of tests/support/abuse.py (30 s in `make test`) for QF_BENCH_SOAK_SECONDS (default 300)
against `python -m quantumfinance_serving` on the trained model (QF_BENCH_TRACKING_URI, or
trained now as the serving benchmark does): 8 valid workers, one key each, at 3 scores a second
(under the keys' 240/minute), first alone, then alongside a keyed client sending validation bombs at
its full 240/minute, unauthenticated junk (made-up methods and paths, 8 MB bodies, 64 KB headers)
and 200 connections trickling their request heads.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_serving import Server, _applicants, _free_port, _trained_store

TITLE = "Abuse soak: valid traffic under hostile clients"

SECONDS = float(os.environ.get("QF_BENCH_SOAK_SECONDS", "300"))
RATE_LIMIT_PER_MINUTE = 240


def run() -> str:
    from quantumfinance_serving.keys import new_key  # noqa: PLC0415
    from tests.support.abuse import Plan, missed_goals, soak  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="qf-bench-abuse-") as tmp:
        workdir = Path(tmp)
        tracking_uri, model_uri = _trained_store(workdir)
        applicant = _applicants(tracking_uri, model_uri, 1)[0]
        valid = [new_key(f"desk-{i}") for i in range(8)]
        bomb_key, bomb_entry = new_key("bomb-maker")
        warm_key, warm_entry = new_key("warm-up")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "QF_MODEL_URI": model_uri,
            "QF_API_KEYS": ",".join([entry for _, entry in valid] + [bomb_entry, warm_entry]),
            "QF_RATE_LIMIT": f"{RATE_LIMIT_PER_MINUTE}/minute",
            "QF_AUDIT_PATH": str(workdir / "audit.jsonl"),
            "QF_RELOAD_INTERVAL_SECONDS": "0",
            "QF_PORT": str(port),
            "QF_HOST": "127.0.0.1",
        }
        args = [sys.executable, "-m", "quantumfinance_serving"]
        server = Server("scoring API", args, env, f"{url}/ready", workdir / "api.log")
        plan = Plan(
            url=url,
            valid_keys=[key for key, _ in valid],
            bomb_key=bomb_key,
            warm_key=warm_key,
            applicant=applicant,
            bombs_per_second=RATE_LIMIT_PER_MINUTE / 60,
            valid_per_second=3.0,
            seconds=SECONDS,
            quiet_seconds=30,
        )
        try:
            outcome = soak(plan, server.proc.pid)
        finally:
            server.stop()
    missed = missed_goals(outcome)
    verdict = "all goals held" if not missed else "missed: " + "; ".join(missed)
    statuses = "; ".join(
        f"{name} " + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items(), key=str))
        for name, counts in outcome.statuses.items()
    )
    return f"""
{int(SECONDS)} s of abuse after 30 s of the valid traffic alone; **{verdict}**.

| goal | measured |
|---|---|
| valid p99 <= 2x quiet | {outcome.loaded_p99_ms:.1f} ms under abuse vs {outcome.quiet_p99_ms:.1f} ms quiet ({outcome.valid_requests} requests) |
| 0 responses 5xx | {outcome.server_errors} |
| server RSS growth <= 50 MB | {outcome.rss_growth_mb:.1f} MB (from {outcome.rss_start_mb:.0f} MB) |
| /metrics series unchanged | {"yes" if not outcome.metrics_new_series else outcome.metrics_new_series[:5]} ({outcome.metrics_bytes[0]} -> {outcome.metrics_bytes[1]} bytes: digits of the counts of requests that reach a route) |
| /health <= 100 ms | max {outcome.health_max_ms:.1f} ms over {outcome.health_probes} probes (new connection each) |
| slow-header connections | {outcome.slow_connections_held} held at once, {outcome.slow_heads_cut_off} cut off by QF_HEAD_TIMEOUT_SECONDS |

Responses by client: {statuses}.
"""  # noqa: E501
