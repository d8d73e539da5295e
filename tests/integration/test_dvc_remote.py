"""DVC remote `minio` (s3://dvc): push from one clone, pull into a fresh clone, same bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from configobj import ConfigObj
from dvc.repo import Repo

from quantumfinance.data_versions import DataVersionError, push_checked
from quantumfinance.stack import Stack
from tests.support.portfolios import raw_applicants
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.stack

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


def point_remote_at(repo: Repo, url: str) -> None:
    """= `dvc remote modify --local minio endpointurl <url>` (this session's port, not committed)."""
    with repo.config.edit("local") as local:
        local["remote"]["minio"] = {"endpointurl": url}


def test_push_then_pull_into_a_fresh_clone_is_identical(
    stack: Stack, stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DVC's Python API in-process (the CLI costs seconds of imports per call); keys from the env.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, stack_env[name])
    origin = tmp_path / "origin"
    (origin / "data" / "01_raw").mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], origin, stack_env)
    Repo.init(str(origin)).close()
    shutil.copy2(REPO_ROOT / ".dvc" / "config", origin / ".dvc" / "config")
    applicants = origin / "data" / "01_raw" / "applicants.csv"
    raw_applicants().to_csv(applicants, index=False)  # the default portfolio, as ingested
    with Repo(str(origin)) as repo:
        point_remote_at(repo, stack.s3.url)
        repo.add(str(applicants))
        sh(["git", *GIT_IDENTITY, "add", "."], origin, stack_env)
        sh(["git", *GIT_IDENTITY, "commit", "-q", "-m", "track applicants"], origin, stack_env)
        assert push_checked(origin) == 1
        assert push_checked(origin) == 0  # all there already: nothing to move, no error

    stored = stack.s3.client().list_objects_v2(Bucket="dvc").get("Contents", [])
    assert any(md5(applicants) in obj["Key"].replace("/", "") for obj in stored), (
        "pushed file not in s3://dvc"
    )

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(origin), str(clone)], tmp_path, stack_env)
    pulled = clone / "data" / "01_raw" / "applicants.csv"
    assert not pulled.exists()
    assert not (clone / ".dvc" / "config.local").exists(), "config.local must not travel with git"
    with Repo(str(clone)) as repo:
        point_remote_at(repo, stack.s3.url)
        repo.pull()
    assert md5(pulled) == md5(applicants)


def test_push_that_leaves_outputs_behind_is_an_error(
    stack: Stack, stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dvc.lock names an output that is neither in the workspace nor in the cache (as when a run
    wrote it elsewhere): a plain `dvc push` moves 0 files and exits 0; ours names the file."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, stack_env[name])
    origin = tmp_path / "origin"
    (origin / "data").mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], origin, stack_env)
    Repo.init(str(origin)).close()
    shutil.copy2(REPO_ROOT / ".dvc" / "config", origin / ".dvc" / "config")
    table = origin / "data" / "never_pushed.csv"
    table.write_text("applicant,score\n1,600\n")
    with Repo(str(origin)) as repo:
        point_remote_at(repo, stack.s3.url)
        repo.add(str(table))
    shutil.rmtree(origin / ".dvc" / "cache")
    table.unlink()
    with pytest.raises(DataVersionError, match="never_pushed.csv"):
        push_checked(origin)
