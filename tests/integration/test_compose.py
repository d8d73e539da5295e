"""docker-compose.yml is valid and complete; .env.example documents it; no secret is tracked."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.services import REPO_ROOT, unavailable

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SERVICES = {"postgres", "minio", "minio-init", "mlflow", "api", "frontend"}
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


def test_compose_config_is_valid() -> None:
    proc = subprocess.run(
        [
            *compose_command(),
            "--env-file",
            str(ENV_EXAMPLE),
            "-f",
            str(COMPOSE_FILE),
            "config",
            "-q",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


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
    for name in ("mlflow", "api", "frontend"):
        dockerfile = REPO_ROOT / services[name]["build"]["dockerfile"]
        assert "uv sync --frozen" in dockerfile.read_text(), (
            f"{dockerfile.name} not built from uv.lock"
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
