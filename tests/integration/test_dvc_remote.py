"""DVC remote `minio` (s3://dvc): push from one clone, pull into a fresh clone, same bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from configobj import ConfigObj

from quantumfinance.applicant_schema import load_german_credit
from scripts.stack import Stack
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.stack

DVC = str(Path(sys.executable).with_name("dvc"))
GIT_IDENTITY = ["-c", "user.name=QuantumFinance CI", "-c", "user.email=ci@quantumfinance.invalid"]


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=180
    )
    assert proc.returncode == 0, f"`{' '.join(args)}` failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_repo_declares_the_minio_remote() -> None:
    config = ConfigObj(str(REPO_ROOT / ".dvc" / "config"))  # the parser DVC itself uses
    remote = config['remote "minio"']
    assert remote["url"] == "s3://dvc"
    assert remote["endpointurl"].startswith("http://127.0.0.1:")
    assert config["core"]["remote"] == "minio"
    assert "access_key_id" not in remote and "secret_access_key" not in remote, (
        "keys belong in config.local"
    )


def test_push_then_pull_into_a_fresh_clone_is_identical(
    stack: Stack, stack_env: dict[str, str], tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    (origin / "data" / "01_raw").mkdir(parents=True)
    env = {**stack_env, "GIT_TERMINAL_PROMPT": "0"}
    sh(["git", "init", "-q", "-b", "main"], origin, env)
    sh([DVC, "init", "-q"], origin, env)
    shutil.copy2(REPO_ROOT / ".dvc" / "config", origin / ".dvc" / "config")
    # The committed endpoint is the default port; this session's endpoint goes to config.local.
    sh([DVC, "remote", "modify", "--local", "minio", "endpointurl", stack.s3.url], origin, env)
    applicants = origin / "data" / "01_raw" / "applicants.csv"
    load_german_credit().to_csv(applicants, index=False)
    sh([DVC, "add", "-q", "data/01_raw/applicants.csv"], origin, env)
    sh(["git", *GIT_IDENTITY, "add", "."], origin, env)
    sh(["git", *GIT_IDENTITY, "commit", "-q", "-m", "track applicants"], origin, env)
    sh([DVC, "push", "-q"], origin, env)

    stored = stack.s3.client().list_objects_v2(Bucket="dvc").get("Contents", [])
    assert any(md5(applicants) in obj["Key"].replace("/", "") for obj in stored), (
        "pushed file not in s3://dvc"
    )

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(origin), str(clone)], tmp_path, env)
    assert not (clone / "data" / "01_raw" / "applicants.csv").exists()
    assert not (clone / ".dvc" / "config.local").exists(), "config.local must not travel with git"
    sh([DVC, "remote", "modify", "--local", "minio", "endpointurl", stack.s3.url], clone, env)
    sh([DVC, "pull", "-q"], clone, env)
    pulled = clone / "data" / "01_raw" / "applicants.csv"
    assert md5(pulled) == md5(applicants)
