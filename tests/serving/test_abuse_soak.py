"""The 30 s abuse soak of issue 21 against a real `python -m quantumfinance_serving` process on the
trained model (tests/support/abuse.py; `make bench` runs it for 5 minutes).

Valid traffic (8 workers, one key each, 3 scores a second each: under the keys' 240/minute)
runs 10 s alone, then 30 s alongside a keyed client sending validation bombs at its full 240/minute,
unauthenticated junk (made-up methods and paths, 8 MB bodies, 64 KB headers) and 200 connections
trickling their request heads. Goals: valid p99 <= 2x its quiet value, no 5xx, server RSS growth
<= 50 MB, no new /metrics series, /health always within 100 ms.
"""

from __future__ import annotations

import pytest

from quantumfinance_serving.keys import new_key
from tests.serving.conftest import ApiProcess
from tests.support.abuse import Plan, missed_goals, soak

pytestmark = pytest.mark.soak

RATE_LIMIT_PER_MINUTE = 240
BOMBS = pytest.param(RATE_LIMIT_PER_MINUTE / 60, id="with-validation-bombs")


@pytest.mark.parametrize("bombs_per_second", [pytest.param(0, id="without-bombs"), BOMBS])
def test_abuse_soak_holds_its_goals(bombs_per_second, local_model_dir, contract, tmp_path):
    valid = [new_key(f"desk-{i}") for i in range(8)]
    bomb_key, bomb_entry = new_key("bomb-maker")
    warm_key, warm_entry = new_key("warm-up")
    api = ApiProcess(
        tmp_path,
        {
            "QF_MODEL_URI": str(local_model_dir),
            "QF_API_KEYS": ",".join([entry for _, entry in valid] + [bomb_entry, warm_entry]),
            "QF_RATE_LIMIT": f"{RATE_LIMIT_PER_MINUTE}/minute",
            "QF_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
            "QF_RELOAD_INTERVAL_SECONDS": "0",
        },
    )
    plan = Plan(
        url=api.url,
        valid_keys=[key for key, _ in valid],
        bomb_key=bomb_key,
        warm_key=warm_key,
        applicant=contract.example_applicant(),
        bombs_per_second=bombs_per_second,
        valid_per_second=3.0,
        seconds=30,
        quiet_seconds=10,
    )
    try:
        api.wait_ready()
        outcome = soak(plan, api.proc.pid)
    finally:
        api.stop()
    assert outcome.slow_connections_held == 200, outcome
    assert outcome.slow_heads_cut_off >= 200, outcome  # each held past QF_HEAD_TIMEOUT_SECONDS
    assert missed_goals(outcome) == [], outcome
