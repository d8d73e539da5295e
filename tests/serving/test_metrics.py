"""Prometheus metrics: request counts, latency histogram, decisions by band, model version."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.serving.helpers import varied_applicants


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_decisions_and_version(api, keys, contract):
    key = {"x-api-key": keys.valid}
    before = _samples(api.get("/metrics", headers=key).text)
    answers = [
        api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid}).json()
        for applicant in varied_applicants(contract, 3)
    ]
    response = api.get("/metrics", headers=key)
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def delta(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    ok = {"method": "POST", "route": "/v1/score", "status": "200"}
    assert delta("qf_http_requests_total", **ok) == 3
    assert delta("qf_http_request_duration_seconds_count", method="POST", route="/v1/score") == 3
    by_band: dict[tuple[str, str], int] = {}
    for answer in answers:
        key = (answer["band"], answer["decision"])
        by_band[key] = by_band.get(key, 0) + 1
    for (band, decision), n in by_band.items():
        assert delta("qf_decisions_total", band=band, decision=decision) == n
    version = api.get("/v1/model", headers={"x-api-key": keys.valid}).json()["version"]
    assert after[("qf_model_version", (("model", "credit-score"),))] == float(version)
    assert after[("qf_model_ready", ())] == 1


def test_metrics_need_a_key(api, keys):
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"x-api-key": keys.revoked}).status_code == 401


def test_requests_matching_no_route_are_tallied_in_the_log_not_in_metrics(caplog):
    from quantumfinance_serving.metrics import UnmatchedTally  # noqa: PLC0415

    tally = UnmatchedTally(every=3600)
    with caplog.at_level("INFO", logger="quantumfinance_serving.metrics"):
        for status in (404, 404, 405, 401):
            tally.add(status)
        assert not caplog.records  # within the interval: nothing logged yet
        tally.flush()
        tally.flush()  # nothing left: no second line
        tally.every = 0  # the interval is over at the next one
        tally.add(404)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert "no route in the last 0 s: 4 (by" in lines[0] and "401: 1, 404: 2, 405: 1" in lines[0]
    assert ": 1 (by status 404: 1);" in lines[1] and "(by status 404: 1)" in lines[1]
