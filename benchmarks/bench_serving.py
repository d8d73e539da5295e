"""Serving benchmark: this API vs `mlflow models serve`, same load generator (wrk).

Peers: `mlflow models serve` on the same registered `credit-score` model, and on a plain
scikit-learn pipeline (one-hot + logistic regression on the same columns) as the fair peer.
Single-row POSTs at concurrency 1, 8 and 32 (req/s, p50/p95/p99, errors), batches of 1,000 and
10,000 rows, the time from process start to ready, and a hostile-traffic run: the API's valid
c=8 traffic while 4 clients post 8 MB bodies without a key (valid p99 must not move by > 2x). Without QF_BENCH_TRACKING_URI the model is
trained first in a tmp project with the same code as the test fixture (tests/conftest.py). The
applicants are synthetic ones of the served model's own contract (whatever its portfolio).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import REPO_ROOT

TITLE = "Serving: scoring API vs mlflow models serve"

CONCURRENCY = (1, 8, 32)
DURATION_SECONDS = int(os.environ.get("QF_BENCH_DURATION", "10"))
BATCH_SIZES = (1_000, 10_000)
BATCH_REPEATS = 5

# wrk prints one JSON line from done(): percentiles in microseconds, counts and errors.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{extra_headers}
wrk.body = [==[{body}]==]
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests": %d, "seconds": %f, "p50": %d, "p95": %d, "p99": %d, ' ..
    '"errors": %d}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _free_port() -> int:
    from tests.support.services import free_port  # noqa: PLC0415

    return free_port()


def _trained_store(workdir: Path) -> tuple[str, str]:
    """(tracking URI, model URI): given by env, or trained now like the test fixture does."""
    given = os.environ.get("QF_BENCH_TRACKING_URI")
    if given:
        return given, os.environ.get("QF_BENCH_MODEL_URI", "models:/credit-score@champion")
    from tests.conftest import train_project  # noqa: PLC0415 - the fixture's own training code

    project = train_project(workdir / "project")
    return project.tracking_uri, project.model_uri


def _applicants(tracking_uri: str, model_uri: str, n: int) -> list[dict]:
    """``n`` synthetic applicants of the served model's own contract, as JSON request bodies."""
    import mlflow  # noqa: PLC0415

    from quantumfinance.contract import contract_of_model  # noqa: PLC0415
    from quantumfinance.synthetic import generate_applicants  # noqa: PLC0415
    from tests.serving.helpers import json_applicants  # noqa: PLC0415 - typed per the contract

    mlflow.set_tracking_uri(tracking_uri)
    contract = contract_of_model(mlflow.pyfunc.load_model(model_uri))
    return json_applicants(generate_applicants(contract, n, seed=11), contract)


class Server:
    def __init__(self, name: str, args: list[str], env: dict, ready_url: str, log: Path) -> None:
        self.name = name
        self.ready_url = ready_url
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.log = log
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=REPO_ROOT, start_new_session=True,
        )  # fmt: skip
        self.ready_seconds = self._wait_ready()

    def _wait_ready(self, timeout: float = 300) -> float:
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _wrk(url: str, body: str, headers: dict[str, str], concurrency: int, workdir: Path) -> dict:
    extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT.format(extra_headers=extra, body=body))
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{DURATION_SECONDS}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def _batch_ms(url: str, payload: dict, headers: dict[str, str]) -> tuple[float, float]:
    """(median, best) milliseconds of BATCH_REPEATS sequential calls (body encoded beforehand)."""
    times = []
    body = json.dumps(payload).encode()
    headers = {**headers, "Content-Type": "application/json"}
    with httpx.Client(timeout=120) as client:
        for _ in range(BATCH_REPEATS + 1):
            start = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            response.raise_for_status()
            times.append(elapsed)
    times = times[1:]  # the first call warms caches
    return statistics.median(times), min(times)


def run() -> str:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    from quantumfinance_serving.keys import new_key  # noqa: PLC0415

    workdir = Path(tempfile.mkdtemp(prefix="qf-bench-serving-"))
    tracking_uri, model_uri = _trained_store(workdir)
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "KEDRO_DISABLE_TELEMETRY": "true",
        # `mlflow models serve` execs `uvicorn` from PATH: the venv's own.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    key, entry = new_key("bench")
    rows = _applicants(tracking_uri, model_uri, max(BATCH_SIZES))
    one = rows[0]

    api_port, peer_port, fair_port = _free_port(), _free_port(), _free_port()
    api_env = {
        **env,
        "QF_MODEL_URI": model_uri,
        "QF_API_KEYS": entry,
        "QF_RATE_LIMIT": "100000000/minute",
        "QF_AUDIT_PATH": str(workdir / "audit.jsonl"),
        "QF_RELOAD_INTERVAL_SECONDS": "0",
        "QF_PORT": str(api_port),
        "QF_LOG_LEVEL": "warning",
    }
    python = sys.executable
    results: dict[str, dict] = {}
    try:
        api = Server(
            "API", [python, "-m", "quantumfinance_serving"], api_env,
            f"http://127.0.0.1:{api_port}/ready", workdir / "api.log",
        )  # fmt: skip
        api_url = f"http://127.0.0.1:{api_port}"
        results["api"] = _measure(
            api, f"{api_url}/v1/score", json.dumps(one),
            f"{api_url}/v1/score/batch", lambda batch: {"applicants": batch},
            {"x-api-key": key}, rows, workdir,
        )  # fmt: skip
        api.stop()
        peer = Server(
            "mlflow models serve",
            [python, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager",
             "local", "--host", "127.0.0.1", "--port", str(peer_port)],
            env, f"http://127.0.0.1:{peer_port}/ping", workdir / "mlflow.log",
        )  # fmt: skip
        peer_url = f"http://127.0.0.1:{peer_port}/invocations"
        results["peer"] = _measure(
            peer, peer_url, json.dumps({"dataframe_records": [one]}),
            peer_url, lambda batch: {"dataframe_records": batch}, {}, rows, workdir,
        )  # fmt: skip
        peer.stop()
        fair_uri = _fair_peer_model(tracking_uri, model_uri, rows)
        fair = Server(
            "mlflow models serve (scikit-learn)",
            [python, "-m", "mlflow", "models", "serve", "-m", fair_uri, "--env-manager",
             "local", "--host", "127.0.0.1", "--port", str(fair_port)],
            env, f"http://127.0.0.1:{fair_port}/ping", workdir / "fair.log",
        )  # fmt: skip
        fair_url = f"http://127.0.0.1:{fair_port}/invocations"
        results["fair"] = _measure(
            fair, fair_url, json.dumps({"dataframe_records": [one]}),
            fair_url, lambda batch: {"dataframe_records": batch}, {}, rows, workdir,
        )  # fmt: skip
        fair.stop()
        api = Server(
            "API", [python, "-m", "quantumfinance_serving"], api_env,
            f"http://127.0.0.1:{api_port}/ready", workdir / "api-hostile.log",
        )  # fmt: skip
        results["hostile"] = _hostile(f"{api_url}/v1/score", json.dumps(one), key, workdir)
        api.stop()
        results["floor"] = _model_floor(tracking_uri, model_uri, rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _report(results, model_uri)


def _fair_peer_model(tracking_uri: str, model_uri: str, rows: list[dict]) -> str:
    """A plain scikit-learn pipeline on the same input columns (one-hot + logistic regression),
    logged to the same store: the peer `mlflow models serve` is fairly compared on. It is fitted
    to reproduce the served model's decisions on the synthetic applicants (a speed peer, not a
    credit model)."""
    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    frame = pd.DataFrame(rows)
    target = (mlflow.pyfunc.load_model(model_uri).predict(frame)["decision"] != "approve").astype(
        int
    )
    # Text columns are pandas' "str" dtype (pandas 3), not object.
    categories = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
    numbers = [c for c in frame if c not in categories]
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                (
                    "categories",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    categories,
                ),
                ("numbers", SimpleImputer(strategy="median"), numbers),
            ]
        ),
        LogisticRegression(max_iter=1000),
    ).fit(frame, target)
    with mlflow.start_run(run_name="bench-fair-peer") as run:
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(frame, pipeline.predict(frame)),
            skops_trusted_types=["numpy.dtype"],  # OneHotEncoder's dtype parameter
        )
    return f"runs:/{run.info.run_id}/model"


def _hostile(url: str, body: str, key: str, workdir: Path) -> dict:
    """Valid c=8 traffic alone, then with 4 clients posting 8 MB bodies without a key."""
    import threading  # noqa: PLC0415

    calm = _wrk(url, body, {"x-api-key": key}, 8, workdir)
    stop = threading.Event()
    junk = b'{"applicants": [' + b" " * (8 * 1024 * 1024 - 100) + b"]}"
    refused = [0]

    def flood() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    client.post(url, content=junk, headers={"content-type": "application/json"})
                    refused[0] += 1
                except httpx.HTTPError:
                    refused[0] += 1  # the server may close before the upload ends: also refused

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        stormy = _wrk(url, body, {"x-api-key": key}, 8, workdir)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    return {"calm": calm, "hostile": stormy, "refused": refused[0]}


def _model_floor(tracking_uri: str, model_uri: str, rows: list[dict]) -> dict[str, dict]:
    """Median ms per batch size, in process (no HTTP): the registered model's own pyfunc
    predict, and the scoring runtime as the API runs it (decoded dicts -> columns -> check ->
    score -> JSON)."""
    import logging  # noqa: PLC0415

    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from quantumfinance.scoring import score  # noqa: PLC0415
    from quantumfinance.scoring.output import output_json  # noqa: PLC0415
    from quantumfinance_serving.bodies import applicants  # noqa: PLC0415
    from quantumfinance_serving.model_store import load  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(model_uri)
    served = load(model_uri).scoring

    def runtime(batch: list[dict]) -> None:
        checked = applicants(served, {"applicants": batch}, True, len(batch))
        output_json(served, score(served, checked.checked))

    logging.disable(logging.INFO)  # the runner logs every node of every call

    def median_ms(call, n: int) -> float:
        call()
        times = []
        for _ in range(25 if n == 1 else 5 if n < 10_000 else 3):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    floor: dict[str, dict] = {"predict": {}, "nodes": {}}
    try:
        for n in (1, *BATCH_SIZES):
            frame = pd.DataFrame(rows[:n])
            floor["predict"][n] = median_ms(lambda f=frame: model.predict(f), n)
            floor["nodes"][n] = median_ms(lambda r=rows[:n]: runtime(r), n)
    finally:
        logging.disable(logging.NOTSET)
    return floor


def _measure(server, url, body, batch_url, wrap, headers, rows, workdir) -> dict:
    out: dict = {"ready_seconds": server.ready_seconds, "single": {}, "batch": {}}
    for c in CONCURRENCY:
        out["single"][c] = _wrk(url, body, headers, c, workdir)
    for n in BATCH_SIZES:
        out["batch"][n] = _batch_ms(batch_url, wrap(rows[:n]), headers)
    return out


def _report(results: dict, model_uri: str) -> str:
    names = {
        "api": "quantumfinance_serving",
        "peer": "mlflow models serve (same model)",
        "fair": "mlflow models serve (scikit-learn one-hot + LR)",
    }
    lines = [
        f"Model `{model_uri}`, both servers on this machine, one process each, load by `wrk` "
        f"({DURATION_SECONDS} s per run) with the same one-applicant body; batch figures are the "
        f"median (best) of {BATCH_REPEATS} sequential calls.",
        "",
        "| server | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, name in names.items():
        for c, r in results[key]["single"].items():
            lines.append(
                f"| {name} | {c} | {r['rps']:.0f} | {r['p50'] / 1000:.1f} | "
                f"{r['p95'] / 1000:.1f} | {r['p99'] / 1000:.1f} | {r['errors']} |"
            )
    lines += ["", "| server | batch rows | ms (median) | ms (best) |", "|---|---|---|---|"]
    for key, name in names.items():
        for n, (median, best) in results[key]["batch"].items():
            lines.append(f"| {name} | {n:,} | {median:.0f} | {best:.0f} |")
    lines += ["", "| server | start → ready (s) |", "|---|---|"]  # noqa: RUF001
    for key, name in names.items():
        lines.append(f"| {name} | {results[key]['ready_seconds']:.1f} |")
    floor = results["floor"]

    def figures(times: dict[int, float]) -> str:
        return ", ".join(f"{n:,} row{'s' if n > 1 else ''} {ms:.1f} ms" for n, ms in times.items())

    lines += [
        "",
        "In process, no HTTP (median): the registered model's pyfunc `predict` "
        f"{figures(floor['predict'])}; the scoring runtime as the API runs it (decoded body ->"
        f" columns -> check -> score -> JSON) {figures(floor['nodes'])}.",
    ]
    hostile = results["hostile"]
    calm99, storm99 = hostile["calm"]["p99"] / 1000, hostile["hostile"]["p99"] / 1000
    lines += [
        "",
        f"Hostile traffic (API, c=8 valid single-row requests; then the same while 4 clients "
        f"post 8 MB bodies without a key, {hostile['refused']} of them refused): p99 "
        f"{calm99:.1f} ms → {storm99:.1f} ms "
        f"({'met' if storm99 <= 2 * calm99 else 'not met'}: goal ≤ 2×).",
    ]
    api8, fair8 = results["api"]["single"][8], results["fair"]["single"][8]
    ratio = api8["rps"] / max(fair8["rps"], 1e-9)
    batch10k = results["api"]["batch"][10_000][0]
    ready = results["api"]["ready_seconds"]
    ours_vs_fair = (
        all(results["peer"]["batch"][n][0] <= results["fair"]["batch"][n][0] for n in BATCH_SIZES)
        and results["peer"]["single"][1]["p50"] <= results["fair"]["single"][1]["p50"]
    )

    def row(goal: str, got: str, ok: bool) -> str:
        return f"| {goal} | {got} | {'met' if ok else 'not met'} |"

    lines += [
        "",
        "| goal (issue 20) | measured | |",
        "|---|---:|---|",
        row("API c=8 ≥ 1,500 req/s", f"{api8['rps']:,.0f} req/s", api8["rps"] >= 1500),
        row("API c=8 p99 ≤ 10 ms", f"{api8['p99'] / 1000:.1f} ms", api8["p99"] <= 10_000),
        row("API ≥ 25× the scikit-learn peer at c=8", f"{ratio:.1f}×", ratio >= 25),
        row("10,000-row JSON batch ≤ 100 ms end to end", f"{batch10k:.0f} ms", batch10k <= 100),
        row("start → ready ≤ 2 s", f"{ready:.1f} s", ready <= 2),
        row(
            "`mlflow models serve` of our model at least as fast as of the scikit-learn peer, "
            "every size (1-row p50 at c=1, 1,000 and 10,000-row batches)",
            "see the tables above",
            ours_vs_fair,
        ),
    ]
    return "\n".join(lines)
