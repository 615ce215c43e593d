"""The API as the user runs it: ``telemetra api`` in a process of its own, on a free port."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fault_helpers import TELEMETRA, pipeline_env, wait_for

from pipelines.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_api(settings: Settings, log_path: Path, port: int | None = None,
                **env: str) -> Iterator[str]:  # fmt: skip
    """``telemetra api`` on the settings' lake; yields its base URL, stops it (SIGTERM) after."""
    port = port or free_port()
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            [str(TELEMETRA), "api", "--port", str(port)],
            env=pipeline_env(settings, **{"TELEMETRA_RUN_DIR": str(settings.run_path), **env}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _answers(base), 60, "the API to answer")
        assert proc.poll() is None, f"the API exited {proc.returncode}:\n{log_path.read_text()}"
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
