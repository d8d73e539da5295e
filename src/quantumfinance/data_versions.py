"""What a run read and wrote, version by version, and how to get it back (decision record 0012).

On the stack every data layer lives in the versioned bucket `s3://data`: an overwrite keeps the
earlier object versions. `DataVersionHooks` records, for each catalog dataset a run loads or saves
on S3, the exact object version and the md5 of its bytes, plus the md5 of each local file it read;
the manifest goes to `s3://data/_runs/<time>_<session>.json` and into the run's MLflow artifacts
(`data_versions.json`). The command line brings an earlier run's data back:

    python -m quantumfinance.data_versions list                  # manifests, newest last
    python -m quantumfinance.data_versions restore MANIFEST      # make those versions current again
    python -m quantumfinance.data_versions pull MANIFEST --into DIR   # copy them into a folder
    python -m quantumfinance.data_versions push      # `dvc push` that fails when outputs are left

(MANIFEST: a key under s3://data/_runs/, or `latest`.) Keys and endpoint come from the environment
(`source .stack.env`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from quantumfinance.lineage import md5_of_stream, stored_md5

logger = logging.getLogger(__name__)

MANIFEST_BUCKET = "data"
MANIFEST_PREFIX = "_runs/"
ARTIFACT_NAME = "data_versions.json"
MANIFEST_RUN_TAG = "quantumfinance.data_manifest"  # where the run's manifest is (s3://data/...)


class DataVersionError(RuntimeError):
    """A recorded version is missing or its bytes do not match the recorded md5."""


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def s3_client(credentials: dict[str, Any] | None = None):  # noqa: ANN201 - boto3 types are dynamic
    """boto3 client from a catalog credentials entry (s3fs layout), else from the environment."""
    import boto3  # noqa: PLC0415

    creds = credentials or {}
    client_kwargs = creds.get("client_kwargs", {})
    return boto3.client(
        "s3",
        aws_access_key_id=creds.get("key") or os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("secret") or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        endpoint_url=client_kwargs.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3"),
        region_name=client_kwargs.get("region_name") or os.environ.get("AWS_DEFAULT_REGION"),
    )


def object_bytes(s3: Any, uri: str, version_id: str | None) -> bytes:
    """The bytes of one object version (the current one if `version_id` is None)."""
    bucket, key = split_s3(uri)
    extra = {"VersionId": version_id} if version_id else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def current_version(s3: Any, uri: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Version id, md5 and size of the object as it is now, all three from ONE GET (so the id
    names exactly the bytes hashed); ``known`` (an earlier record of the same object) is returned
    as it is when a HEAD shows the version unchanged, without a download."""
    bucket, key = split_s3(uri)
    if known is not None and known.get("version_id"):
        if s3.head_object(Bucket=bucket, Key=key).get("VersionId") == known["version_id"]:
            return known
    got = s3.get_object(Bucket=bucket, Key=key)
    return {
        "uri": uri,
        "version_id": got.get("VersionId"),
        "md5": md5_of_stream(got["Body"]),  # streamed, not held
        "size": int(got["ContentLength"]),
    }


@dataclass
class _Entry:
    uri: str
    credentials: dict[str, Any] | None


class DataVersionHooks:
    """Record the exact version of each dataset a run reads or writes; publish a manifest."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._manifest: dict[str, Any] = {}
        self._clients: dict[str, Any] = {}

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Where each file-backed dataset lives (public `to_config`, credentials resolved)."""
        config, credentials, _, _ = catalog.to_config()
        self._entries = {}
        for name, entry in config.items():
            path = str(entry.get("filepath") or entry.get("path") or "")
            if path and not entry.get("versioned"):
                creds = entry.get("credentials")
                creds = credentials.get(creds) if isinstance(creds, str) else creds
                self._entries[name] = _Entry(path, creds)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._manifest = {
            "session_id": run_params.get("run_id"),  # Kedro's session id
            "runtime_params": run_params.get("runtime_params") or {},
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "env": run_params.get("env") or "local",
            "pipelines": run_params.get("pipeline_names") or run_params.get("pipeline_name"),
            "mlflow_run_id": None,
            "read": {},
            "written": {},
        }

    def _record(self, kind: str, dataset_name: str) -> None:
        entry = self._entries.get(dataset_name)
        if entry is None or not self._manifest or dataset_name in self._manifest[kind]:
            return
        if entry.uri.startswith("s3://"):
            # A dataset this run wrote and now reads back is not downloaded again.
            known = self._manifest["written"].get(dataset_name)
            record = current_version(self._client(entry.credentials), entry.uri, known)
        elif "://" not in entry.uri and Path(entry.uri).is_file():
            record = {"uri": entry.uri, "version_id": None, "md5": stored_md5(entry.uri),
                      "size": Path(entry.uri).stat().st_size}  # fmt: skip
        else:
            return
        self._manifest[kind][dataset_name] = record
        mlflow = sys.modules.get("mlflow")
        active = mlflow.active_run() if mlflow else None
        if active is not None:
            self._manifest["mlflow_run_id"] = active.info.run_id

    def _client(self, credentials: dict[str, Any] | None) -> Any:
        """One boto3 client per credentials entry for the whole run."""
        key = json.dumps(credentials or {}, sort_keys=True, default=str)
        if key not in self._clients:
            self._clients[key] = s3_client(credentials)
        return self._clients[key]

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        self._record("read", dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        self._record("written", dataset_name)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the run: the manifest goes into it
    def after_pipeline_run(self) -> None:
        """Publish the manifest when the run touched the versioned bucket (the stack)."""
        touched = [
            *self._manifest.get("read", {}).values(),
            *self._manifest.get("written", {}).values(),
        ]
        if not any(r["uri"].startswith("s3://") for r in touched):
            return
        self._manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        stamp = self._manifest["finished"].replace(":", "").replace("-", "")
        key = f"{MANIFEST_PREFIX}{stamp}_{self._manifest['session_id']}.json"
        entry = next(e for e in self._entries.values() if e.uri.startswith("s3://"))
        body = json.dumps(self._manifest, indent=2, sort_keys=True).encode()
        self._client(entry.credentials).put_object(Bucket=MANIFEST_BUCKET, Key=key, Body=body)
        logger.info("Data versions of this run: s3://%s/%s", MANIFEST_BUCKET, key)
        mlflow = sys.modules.get("mlflow")
        if mlflow is not None and mlflow.active_run() is not None:
            mlflow.log_dict(self._manifest, ARTIFACT_NAME)
            mlflow.set_tag(MANIFEST_RUN_TAG, f"s3://{MANIFEST_BUCKET}/{key}")


# --------------------------------------------------------------------------- command line


def list_manifests(s3: Any) -> list[str]:
    """Manifest keys, oldest first (keys start with the finishing time)."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=MANIFEST_BUCKET, Prefix=MANIFEST_PREFIX
    )
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def load_manifest(s3: Any, name: str) -> dict[str, Any]:
    """A manifest by key (or `latest`)."""
    keys = list_manifests(s3)
    if name == "latest":
        if not keys:
            raise DataVersionError(f"no manifest under s3://{MANIFEST_BUCKET}/{MANIFEST_PREFIX}")
        name = keys[-1]
    key = name if name.startswith(MANIFEST_PREFIX) else MANIFEST_PREFIX + name
    if key not in keys:
        raise DataVersionError(f"no manifest {key!r}; `list` shows the ones there are")
    return json.loads(s3.get_object(Bucket=MANIFEST_BUCKET, Key=key)["Body"].read())


def recorded_objects(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """uri -> record for every S3 object the run read or wrote (the written version wins)."""
    records = {**manifest["read"], **manifest["written"]}
    return {r["uri"]: r for r in records.values() if r["uri"].startswith("s3://")}


def _checked_bytes(s3: Any, record: dict[str, Any]) -> bytes:
    body = object_bytes(s3, record["uri"], record["version_id"])
    if hashlib.md5(body).hexdigest() != record["md5"]:
        raise DataVersionError(f"{record['uri']} version {record['version_id']}: md5 differs")
    return body


def restore(s3: Any, manifest: dict[str, Any]) -> list[str]:
    """Make each recorded version the current one again (a new version: history is kept)."""
    restored = []
    for uri, record in sorted(recorded_objects(manifest).items()):
        body = _checked_bytes(s3, record)
        if current_version(s3, uri)["md5"] != record["md5"]:
            bucket, key = split_s3(uri)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            restored.append(uri)
    return restored


def pull(s3: Any, manifest: dict[str, Any], into: Path) -> list[Path]:
    """Copy each recorded version into `into/<bucket>/<key>`, checking its md5."""
    written = []
    for uri, record in sorted(recorded_objects(manifest).items()):
        target = into.joinpath(*split_s3(uri))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_checked_bytes(s3, record))
        written.append(target)
    return written


def push_checked(repo_root: Path = Path("."), remote: str | None = None) -> int:
    """`dvc push`, then fail unless every output DVC tracks is on the remote afterwards.

    A plain `dvc push` exits 0 having moved nothing when the outputs dvc.lock names were never
    in this workspace (e.g. they were written to the stack's bucket): here that is an error.
    """
    from dvc.repo import Repo  # noqa: PLC0415 - DVC is slow to import; only this command needs it

    with Repo(str(repo_root)) as repo:
        pushed = repo.push(remote=remote)
        left = repo.status(cloud=True, remote=remote)
    not_pushed = {path: state for path, state in left.items() if state in {"new", "missing"}}
    if not_pushed and set(not_pushed.values()) == {"missing"} and not pushed:
        raise DataVersionError(
            "nothing to push: run `make repro` first for DVC to hold a version (the stack flow "
            "versions its data in s3://data: `python -m quantumfinance.data_versions list`); "
            f"not in this workspace: {', '.join(sorted(not_pushed))}"
        )
    if not_pushed:
        raise DataVersionError(
            f"{len(not_pushed)} tracked output(s) are not on the DVC remote after the push "
            f"(missing = neither in the workspace nor in the cache: run `make repro` first): "
            + ", ".join(f"{path} ({state})" for path, state in sorted(not_pushed.items()))
        )
    return pushed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantumfinance.data_versions")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="manifests of earlier runs, oldest first")
    sub.add_parser("push", help="dvc push; an error unless every tracked output is on the remote")
    for name in ("restore", "pull"):
        command = sub.add_parser(name)
        command.add_argument("manifest", help="key under s3://data/_runs/ or `latest`")
    sub.choices["pull"].add_argument("--into", type=Path, required=True)
    args = parser.parse_args(argv)
    s3 = s3_client()
    try:
        if args.command == "push":
            sys.stdout.write(
                f"pushed {push_checked()} file(s); every tracked output is on the remote\n"
            )
        elif args.command == "list":
            sys.stdout.write("".join(f"{key}\n" for key in list_manifests(s3)))
        elif args.command == "restore":
            done = restore(s3, load_manifest(s3, args.manifest))
            sys.stdout.write(
                f"restored {len(done)} object(s): {', '.join(done) or 'all current'}\n"
            )
        else:
            files = pull(s3, load_manifest(s3, args.manifest), args.into)
            sys.stdout.write(f"pulled {len(files)} object(s) into {args.into}\n")
    except DataVersionError as exc:
        sys.stderr.write(f"data_versions {args.command} failed: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
