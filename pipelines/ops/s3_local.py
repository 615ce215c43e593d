"""A local S3-compatible server (SeaweedFS's ``weed server -s3``) for trying the lake on
object storage on one machine: the S3-lake tests, ``bench/catchup.py --s3`` and
``telemetra s3 serve`` start it.

``make seaweedfs`` builds ``weed`` from the Go module proxy into ``.cache/seaweedfs/<version>``.
The server binds to loopback only, keeps its data under one folder and, with no identities
configured, accepts any credentials: a test and benchmark server, not a place for data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from pipelines.config import PROJECT_ROOT

# The ports `weed server` opens (gRPC ones too); each gets a free port of its own.
_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip


def weed_binary() -> Path:
    """The newest ``weed`` ``make seaweedfs`` built."""
    built = sorted(PROJECT_ROOT.glob(".cache/seaweedfs/*/weed"), key=lambda p: p.stat().st_mtime)
    if not built:
        raise RuntimeError("SeaweedFS's weed is not built: run `make seaweedfs`")
    return built[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalS3:
    """One ``weed server`` with its S3 gateway on ``endpoint``, its data under ``data_dir``."""

    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: {p: _free_port() for p in _PORTS})
    metrics_port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics, among them S3 requests by type (``SeaweedFS_s3_request_total``)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self) -> list[str]:
        return [
            str(weed_binary()),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            "-s3",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            f"-metricsPort={self.metrics_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # Each bucket is a collection that takes 7 volumes: with the default volume count
            # a second bucket fails with 500 "No writable volumes". Small volumes keep a
            # test's footprint small.
            "-volume.max=100",
            "-master.volumeSizeLimitMB=32",
        ]

    def start(self, timeout_s: float = 60) -> LocalS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "weed.log", "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                # weed makes AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY its admin identity, and
                # then refuses anonymous requests: it gets none of the AWS_* variables.
                env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed server exited {self.process.returncode}: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"weed server not answering after {timeout_s}s: {self.log_tail()}"
                )
            time.sleep(0.5)
        return self

    def _answers(self) -> bool:
        try:
            return requests.get(self.endpoint, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def create_bucket(self, bucket: str, timeout_s: float = 60) -> None:
        """Create ``bucket`` (anonymous: no identities are configured), or find it there
        (409). Retried while the new server has no writable volume yet."""
        deadline = time.monotonic() + timeout_s
        while True:
            resp = requests.put(f"{self.endpoint}/{bucket}", timeout=10)
            if resp.status_code in (200, 409):
                return
            if resp.status_code < 500 or time.monotonic() > deadline:
                raise RuntimeError(f"creating bucket {bucket}: {resp.status_code} {resp.text}")
            time.sleep(1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL: weed's shutdown can take longer than a test wants to wait."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=wait_s)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 20) -> str:
        path = self.data_dir / "weed.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
