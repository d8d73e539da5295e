"""Start-up: settings checked before serving (one line per problem naming the variable, exit
code 2), `--help`, warnings for unknown QF_* variables and for zero keys, one log format."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from quantumfinance_serving import create_app
from quantumfinance_serving.__main__ import main
from quantumfinance_serving.settings import Settings, unknown_variables
from tests.support.services import REPO_ROOT


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QF_")}
    return subprocess.run(
        [sys.executable, "-m", "quantumfinance_serving", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QF_RATE_LIMIT", "sixty a minute"),
        ("QF_API_KEYS", "ops:my-plain-password"),
        ("QF_PORT", "70000"),
        ("QF_MODEL_URI", "models:/credit-score/latest"),
        ("QF_AUDIT_DSN", "mysql://db/audit"),
        ("QF_RATE_LIMIT_STORAGE", "redis//127.0.0.1:6379"),
        ("QF_TRUSTED_PROXIES", "10.0.0.0/33"),
    ],
)
def test_bad_setting_stops_the_start_with_one_line_naming_it(variable, value, monkeypatch, capsys):
    """In process (the exit code through a real subprocess: the test below)."""
    for name in [n for n in os.environ if n.startswith("QF_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(variable, value)
    assert main([]) == 2
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"quantumfinance_serving: invalid setting "
                                                    f"{variable}: "), lines  # fmt: skip
    if variable == "QF_API_KEYS":
        assert "my-plain-password" not in stderr  # a secret is not echoed back


def test_several_bad_settings_get_one_line_each():
    done = _start({"QF_RATE_LIMIT": "often", "QF_PORT": "0", "QF_MAX_BATCH": "-1"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    named = sorted(line.split()[3].rstrip(":") for line in done.stderr.strip().splitlines())
    assert named == ["QF_MAX_BATCH", "QF_PORT", "QF_RATE_LIMIT"], done.stderr


def test_help_prints_usage_and_exits_without_serving():
    done = _start({}, "--help")
    assert done.returncode == 0
    for variable in ("QF_API_KEYS", "QF_RATE_LIMIT", "QF_TRUSTED_PROXIES", "QF_METRICS_PORT"):
        assert variable in done.stdout
    assert "Uvicorn running" not in done.stdout + done.stderr


def test_unknown_qf_variables_are_warned_about_with_a_suggestion():
    warnings = unknown_variables(
        {"QF_RATE_LIMT": "5/minute", "QF_API_URL": "http://x", "QF_STACK_S3_PORT": "9000",
         "QF_API_KEYS": "", "HOME": "/root"}
    )  # fmt: skip
    assert warnings == [
        "QF_RATE_LIMT is not a setting of the API and is ignored; did you mean QF_RATE_LIMIT?"
    ]


def test_zero_keys_are_warned_about(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="quantumfinance_serving"):
        create_app(Settings(api_keys="", audit_path=tmp_path / "a.jsonl"))
    assert "QF_API_KEYS is empty" in caplog.text


def test_json_log_format_writes_one_json_object_per_line(tmp_path):
    """Also after Kedro is imported (loading a model does; it configures logging itself) and
    for Python warnings; from a project root too (where Kedro would read conf/logging.yml)."""
    code = (
        "import logging, warnings; from quantumfinance_serving.logs import configure; "
        "configure('info', 'json'); "
        "logging.getLogger('quantumfinance_serving').warning('rejected %s key', 'invalid'); "
        "import kedro.framework.project; "
        "logging.getLogger('uvicorn.error').info('Uvicorn running'); "
        "warnings.warn('a library warning')"
    )
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging.yml").write_text((REPO_ROOT / "conf" / "logging.yml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    records = [json.loads(line) for line in done.stderr.strip().splitlines()]
    # (Kedro's own line naming the logging file it applied is one of them.)
    records = [r for r in records if r["name"] != "kedro.framework.project"]
    assert [(r["name"], r["levelname"]) for r in records] == [
        ("quantumfinance_serving", "WARNING"),
        ("uvicorn.error", "INFO"),
        ("py.warnings", "WARNING"),
    ], done.stderr
    assert records[0]["message"] == "rejected invalid key"
    assert "a library warning" in records[2]["message"]
    assert all(r["asctime"] for r in records)
