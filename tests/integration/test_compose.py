"""docker-compose.yml is valid and complete; .env.example documents it; no secret is tracked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tests.support.services import REPO_ROOT, unavailable

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SERVICES = {
    "postgres", "minio", "minio-init", "mlflow", "api", "frontend", "dask-scheduler", "dask-worker",
}  # fmt: skip
LONG_RUNNING = SERVICES - {"minio-init"}
# Variables compose reads from the shell/.env itself rather than from the file's ${...}.
COMPOSE_OWN = {"COMPOSE_PROJECT_NAME"}


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) when present, else the standalone `docker-compose`."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    unavailable("neither `docker compose` nor `docker-compose` is installed")
    raise AssertionError  # unreachable


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example() -> dict[str, str]:
    """Variables of .env.example -> the comment block right above each."""
    documented, comment = {}, []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#"):
            comment.append(line)
        elif "=" in line:
            documented[line.split("=", 1)[0].strip()] = "\n".join(comment)
            comment = []
        else:
            comment = []
    return documented


def compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def filled_env(tmp_path: Path, drop: str = "") -> Path:
    """.env.example with the two values a user must mint filled in (and `drop` left out)."""
    lines = [
        line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith(drop + "=")
    ]
    lines = [line for line in lines if not line.startswith(("QF_API_KEYS=", "QF_API_KEY="))]
    lines += ["QF_API_KEYS=demo:" + "a" * 64, "QF_API_KEY=demo-plain-key"]
    env = tmp_path / f"filled{drop}.env"
    env.write_text("\n".join(lines) + "\n")
    return env


def test_compose_config_is_valid(tmp_path: Path) -> None:
    proc = compose_config(filled_env(tmp_path))
    assert proc.returncode == 0, proc.stderr


def test_a_missing_required_variable_stops_compose_naming_it(tmp_path: Path) -> None:
    """`${VAR:?…}`: an unset secret fails `docker compose` before anything starts."""
    assert "QF_API_KEYS" in compose_config(ENV_EXAMPLE).stderr  # .env.example leaves it empty
    for name in ("POSTGRES_PASSWORD", "MLFLOW_S3_SECRET_KEY", "S3_CLIENT_ACCESS_KEY"):
        proc = compose_config(filled_env(tmp_path, drop=name))
        assert proc.returncode != 0 and name in proc.stderr, (name, proc.stderr)


def test_services_network_volume_and_healthchecks(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    assert compose["networks"]["mlops_network"]["name"] == "mlops_network"
    for name, service in services.items():
        assert service["networks"] == ["mlops_network"], f"{name} is not on mlops_network"
    assert "./.pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "9001" in " ".join(services["minio"]["ports"]), "MinIO console port not published"
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    # Every dependency waits for health (or, for the one-shot bucket job, for its success).
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully"
                if dependency == "minio-init"
                else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {dependency}: {rule}"
    assert {"postgres", "minio", "minio-init"} <= set(services["mlflow"]["depends_on"])
    assert "mlflow" in services["api"]["depends_on"] and "api" in services["frontend"]["depends_on"]
    init_script = " ".join(services["minio-init"]["command"])
    assert "--ignore-existing" in init_script, "bucket creation must be idempotent"
    for bucket in ("data", "mlflow", "dvc"):
        assert f"stack/{bucket}" in init_script
        assert f"mc version enable stack/{bucket}" in init_script, f"{bucket} not versioned"
    for name in ("mlflow", "api", "frontend", "dask-scheduler", "dask-worker"):
        dockerfile = REPO_ROOT / services[name]["build"]["dockerfile"]
        assert "uv sync --frozen" in dockerfile.read_text(), (
            f"{dockerfile.name} not built from uv.lock"
        )
    # The Dask services run the API's locked image; the scheduler is on the network by name.
    app = services["api"]["image"]
    assert services["dask-scheduler"]["image"] == services["dask-worker"]["image"] == app
    assert "tcp://dask-scheduler:8786" in services["dask-worker"]["command"]


def test_server_and_clients_have_separate_s3_keys(compose: dict) -> None:
    services = compose["services"]
    server_key = services["mlflow"]["environment"]["AWS_ACCESS_KEY_ID"]
    worker_key = services["dask-worker"]["environment"]["AWS_ACCESS_KEY_ID"]
    assert "MLFLOW_S3_ACCESS_KEY" in server_key and "S3_CLIENT_ACCESS_KEY" in worker_key
    assert "MINIO_ROOT" not in json.dumps(
        {n: services[n] for n in SERVICES - {"minio", "minio-init"}}
    )
    init_script = " ".join(services["minio-init"]["command"])
    assert "policy attach stack qf-mlflow --user" in init_script
    assert "policy attach stack qf-client --user" in init_script


def test_postgres_uris_are_url_encoded() -> None:
    """User and password may hold any character: pg-uri encodes them for the URI."""
    nasty = {
        "POSTGRES_USER": "ml flow",
        "POSTGRES_PASSWORD": "p@ss:w/rd?#%",
        "POSTGRES_DB": "mlflow",
    }
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docker" / "pg_uri.py"), "psycopg"],
        env=nasty,
        capture_output=True,
        text=True,
        check=True,
    )
    uri = urlsplit(proc.stdout.strip())
    assert uri.scheme == "postgresql+psycopg" and uri.hostname == "postgres" and uri.port == 5432
    assert (unquote(uri.username), unquote(uri.password)) == ("ml flow", "p@ss:w/rd?#%")
    compose_text = COMPOSE_FILE.read_text()
    assert "${POSTGRES_PASSWORD}@" not in compose_text, "a raw password inside a URI"
    assert "pg-uri psycopg" in compose_text and "QF_AUDIT_DSN" in compose_text


def test_build_contexts_keep_secrets_and_state_out() -> None:
    must_exclude = {".env", ".stack/", ".pgdata/", "conf/local/"}
    root = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert must_exclude <= root, must_exclude - root
    for ignore in (REPO_ROOT / "docker").glob("*.Dockerfile.dockerignore"):
        lines = [line for line in ignore.read_text().splitlines() if not line.startswith("#")]
        assert lines[0] == "*", f"{ignore.name} must start by excluding everything"
        assert not {"!.env", "!.stack/", "!conf/", "!conf/local/"} & set(lines), ignore.name


def test_base_images_are_pinned_and_images_slim_per_role(compose: dict) -> None:
    for dockerfile in [
        *(REPO_ROOT / "docker").glob("*.Dockerfile"),
        REPO_ROOT / ".devcontainer" / "Dockerfile",
    ]:
        for base in re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE):
            assert re.search(r":\d+\.\d+\.\d+", base), f"{dockerfile.name}: {base} is not pinned"
    images = {name: s["image"] for name, s in compose["services"].items() if "build" not in s}
    for name, image in images.items():
        default = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", image)
        assert re.search(r":(\d+\.\d+|RELEASE\.)", default), f"{name}: {image} is not pinned"
    mlflow = (REPO_ROOT / "docker" / "mlflow.Dockerfile").read_text()
    frontend = (REPO_ROOT / "docker" / "frontend.Dockerfile").read_text()
    assert "--only-group tracking-server" in mlflow and "--only-group frontend" in frontend


def test_devcontainer_forwards_its_own_ports_and_needs_env() -> None:
    text = (REPO_ROOT / ".devcontainer" / "devcontainer.json").read_text()
    config = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE))
    assert not set(config["forwardPorts"]) & {5000, 8000, 8501, 9000, 9001, 5432}
    assert ".env is missing" in config["initializeCommand"]
    assert config["initializeCommand"].startswith("test -f .env ||")
    assert config["remoteEnv"]["AWS_ACCESS_KEY_ID"] == "${containerEnv:S3_CLIENT_ACCESS_KEY}"
    assert config["containerEnv"]["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert (
        "dvc remote modify --local minio endpointurl http://minio:9000"
        in config["postCreateCommand"]
    )


def test_env_example_documents_every_variable_of_the_compose_file() -> None:
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    documented = env_example()
    missing = used - set(documented)
    assert not missing, f".env.example lacks {sorted(missing)}"
    undocumented = [name for name in used | COMPOSE_OWN if not documented.get(name)]
    assert not undocumented, f"no comment above {undocumented} in .env.example"
    unused = set(documented) - used - COMPOSE_OWN
    assert not unused, f".env.example lists variables compose never reads: {sorted(unused)}"


def test_no_secret_is_tracked_by_git() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    forbidden = re.compile(
        r"(^|/)(\.env|\.stack\.env|credentials\.yml|config\.local|secrets\.toml)$|\.(pem|key)$|(^|/)\.stack/"
    )
    assert not [path for path in tracked if forbidden.search(path)]
    secret_value = re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}"
        r"|(?i:(secret_access_key|aws_secret_access_key|password)\s*[:=]\s*['\"]?[A-Za-z0-9/+_-]{24,})"
    )
    leaks = []
    for path in tracked:
        file = REPO_ROOT / path
        if not file.is_file() or file.suffix in {".lock", ".parquet", ".gz", ".png", ".pkl"}:
            continue
        text = file.read_text(errors="ignore")
        found = (m.group(0) for m in secret_value.finditer(text))
        # Placeholders in .env.example are spelt `change-me-…` on purpose.
        leaks += [f"{path}: {value[:40]}" for value in found if "change-me" not in value]
    assert not leaks, f"secret-looking values in tracked files: {leaks}"
    # The stack's credentials file is tracked, so it may only point at environment variables.
    for path in (REPO_ROOT / "conf" / "stack").glob("credentials*"):
        keys = re.findall(r"^\s*(?:key|secret):\s*(.+)$", path.read_text(), flags=re.MULTILINE)
        assert keys and all(value.startswith("${oc.env:") for value in keys), f"{path}: {keys}"


@pytest.mark.stack
def test_postgres_init_creates_the_decision_audit_table(stack) -> None:  # noqa: ANN001
    """docker/postgres-init runs on an empty data dir; here on a fresh database of the stack's."""
    import psycopg  # noqa: PLC0415

    stack.postgres.create_database("compose_init_check")
    sql = (REPO_ROOT / "docker" / "postgres-init" / "10-decision-audit.sql").read_text()
    with psycopg.connect(stack.postgres.dsn("compose_init_check"), autocommit=True) as conn:
        conn.execute(sql)
        conn.execute(sql)  # idempotent, like the API's own CREATE TABLE IF NOT EXISTS
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                ("decision_audit",),
            )
        }
    lineage = {"request_id", "model_version", "model_run_id", "model_digest", "contract_digest"}
    assert lineage <= columns, lineage - columns
