"""`make serve`: the scoring API and the Streamlit demo, with a demo key.

Serves `credit-score@champion` from the registry the environment names: `--store PATH` (a local
sqlite store), else `--env ENV` (`make serve ENV=cards`: that env's mlflow.yml), else
`MLFLOW_TRACKING_URI` (set by `source .stack.env`: the stack's tracking server), else the
embedded default sqlite:///mlflow.db in the repo root. The banner says which. `QF_AUDIT_DSN`, if
set, sends the decision audit to PostgreSQL; else it goes to the env's own JSONL file
(`<data_root>/09_audit/decisions.jsonl`, or `QF_AUDIT_PATH`). Ports: `--api-port`, `--ui-port`
(`make serve API_PORT=8100 UI_PORT=8600`). A fresh key is minted on every start; only its hash
reaches the API. Ctrl-C stops both processes.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from quantumfinance_serving.keys import new_key

ROOT = Path(__file__).resolve().parents[1]
LOCAL_STORE = ROOT / "mlflow.db"
MODEL_URI = "models:/credit-score@champion"
APP = ROOT / "src" / "quantumfinance_frontend" / "app.py"


def champion_problem(uri: str, model_uri: str) -> str | None:
    """Why the model cannot be served from the registry at ``uri``, or None when it can."""
    hint = "Run `make run` first: it trains and registers credit-score@champion."
    if uri.startswith("sqlite:///"):
        store = Path(uri.removeprefix("sqlite:///"))
        if not store.exists():  # checked first: opening a missing sqlite store would create it
            return f"No local MLflow store at {store}. {hint}"
    from mlflow import MlflowClient  # noqa: PLC0415 - slow import, only when needed
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    name, _, alias = model_uri.removeprefix("models:/").partition("@")
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return f"No model {model_uri} is registered in {uri}. {hint}"
        return f"The registry at {uri} did not answer: {str(exc)[:300]}"
    return None


def registry_uri(store: Path | None, env: str | None, environ: dict[str, str]) -> tuple[str, str]:
    """The tracking/registry URI to serve from, and where that choice came from."""
    if store is not None:
        return f"sqlite:///{store.resolve()}", "--store"
    if env:
        from quantumfinance.registry import project_tracking_uri  # noqa: PLC0415 - slow import

        return project_tracking_uri(ROOT, env), f"conf/{env}/mlflow.yml"
    if environ.get("MLFLOW_TRACKING_URI"):
        return environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    return f"sqlite:///{LOCAL_STORE}", "the embedded default"


def shown(uri: str) -> str:
    """A URI fit for a banner: no user:password part."""
    return re.sub(r"//[^/@]*@", "//", uri)


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(url: str, process: subprocess.Popen, what: str, timeout: float) -> None:
    """Poll `url` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            response = requests.get(url, timeout=1)
        except requests.RequestException:
            response = None
        if response is not None and response.status_code == 200:
            return
        if response is not None and response.status_code == 503:
            # /ready names the load error once loading has failed: no point waiting longer.
            detail = response.json().get("detail") or ""
            if detail and "still loading" not in detail:
                raise RuntimeError(f"{what} could not load the model: {detail}")
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready at {url} after {timeout:.0f}s")


def served_portfolio(api_url: str, api_key: str) -> str:
    """The portfolio named by the served model's applicant contract (for the banner)."""
    try:
        info = requests.get(f"{api_url}/v1/model", headers={"x-api-key": api_key}, timeout=5)
        return str(info.json()["contract"]["portfolio"]["name"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return "(the API does not name it)"


def stop(processes: list[subprocess.Popen]) -> None:
    """Terminate the processes we started (each in its own session), then kill stragglers."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def audit_file(env: str | None) -> Path:
    """The env's JSONL decision audit: ``<data_root>/09_audit/decisions.jsonl`` (one per env)."""
    from quantumfinance.registry import project_data_root  # noqa: PLC0415 - slow import

    return project_data_root(ROOT, env) / "09_audit" / "decisions.jsonl"


def say(message: str, error: bool = False) -> None:
    """Write a line for the operator (stderr for problems), flushed at once."""
    stream = sys.stderr if error else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve", description=__doc__)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--ui-port", type=int, default=8501)
    parser.add_argument("--model-uri", default=os.environ.get("QF_MODEL_URI", MODEL_URI))
    parser.add_argument("--store", type=Path, default=None, help="local MLflow sqlite file")
    parser.add_argument("--env", default=None, help="env whose mlflow.yml names the registry")
    args = parser.parse_args(argv)
    uri, origin = registry_uri(args.store, args.env, dict(os.environ))

    if args.model_uri.startswith("models:/") and (problem := champion_problem(uri, args.model_uri)):
        say(problem, error=True)
        return 1

    for port, flag in ((args.api_port, "--api-port"), (args.ui_port, "--ui-port")):
        if port_in_use(port):
            say(f"Port {port} is already in use; pick another with {flag} <port>.", error=True)
            return 1

    audit_path = os.environ.get("QF_AUDIT_PATH") or str(audit_file(args.env))
    api_key, key_entry = new_key("demo")
    api_url = f"http://127.0.0.1:{args.api_port}"
    ui_url = f"http://127.0.0.1:{args.ui_port}"
    api_env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "QF_MODEL_URI": args.model_uri,
        "QF_API_KEYS": key_entry,
        "QF_HOST": "127.0.0.1",
        "QF_PORT": str(args.api_port),
        "QF_AUDIT_PATH": audit_path,
    }
    ui_env = {**os.environ, "QF_API_URL": api_url, "QF_API_KEY": api_key}
    audit = (
        "PostgreSQL table decision_audit (QF_AUDIT_DSN)"
        if os.environ.get("QF_AUDIT_DSN")
        else audit_path
    )
    ui_args = [sys.executable, "-m", "streamlit", "run", str(APP)]
    ui_args += ["--server.port", str(args.ui_port), "--server.address", "127.0.0.1"]
    ui_args += ["--server.headless", "true", "--server.fileWatcherType", "none"]

    # Own sessions: Ctrl-C reaches only this script, which then stops both children in order.
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "quantumfinance_serving"],
                env=api_env,
                cwd=ROOT,
                start_new_session=True,
            )
        )
        wait_for(f"{api_url}/ready", processes[0], "the scoring API", timeout=180)
        processes.append(subprocess.Popen(ui_args, env=ui_env, cwd=ROOT, start_new_session=True))
        wait_for(f"{ui_url}/_stcore/health", processes[1], "Streamlit", timeout=60)
        say(
            "\n"
            f"  Scoring API    {api_url}   (docs: {api_url}/docs)\n"
            f"  Streamlit demo {ui_url}\n"
            f"  Demo API key   {api_key}   (header x-api-key; valid until you stop this)\n"
            f"  Model          {args.model_uri}\n"
            f"  Registry       {shown(uri)}   (from {origin})\n"
            f"  Audit log      {audit}\n"
            f"  Portfolio      {served_portfolio(api_url, api_key)}   (the form follows its contract)\n"
            "\n  Ctrl-C stops both.\n"
        )
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        say("A process exited; stopping the other.", error=True)
        return 1
    except KeyboardInterrupt:
        say("\nStopping the API and Streamlit…", error=True)
        return 0
    except RuntimeError as error:
        say(f"Could not start the demo: {error}", error=True)
        return 1
    finally:
        stop(processes)


if __name__ == "__main__":
    # Ctrl-C even when started from a shell that ignores SIGINT for background jobs, and
    # SIGTERM (e.g. from a supervisor) both shut down cleanly through KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    raise SystemExit(main())
