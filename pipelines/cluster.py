"""A Spark standalone cluster on this machine (master + workers from pyspark's spark-class),
and spark-submit of the pipeline to any master, passing jars the way the Docker image does.

The same job modules run in local mode and on a cluster; only the spark-submit line differs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.spark import extra_spark_jars

MASTER_PORT = 7077
MASTER_UI_PORT = 8080


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _cluster_dir(settings: Settings) -> Path:
    path = settings.run_path / "cluster"
    path.mkdir(parents=True, exist_ok=True)
    return path


def master_url(host: str = "127.0.0.1", port: int = MASTER_PORT) -> str:
    return f"spark://{host}:{port}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(_spark_home())
    env["PYSPARK_PYTHON"] = sys.executable
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


def _launch(settings: Settings, name: str, args: list[str]) -> int:
    cdir = _cluster_dir(settings)
    log = open(cdir / f"{name}.log", "ab")
    proc = subprocess.Popen(
        [str(_spark_home() / "bin" / "spark-class"), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,
    )
    (cdir / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def master_state(ui_port: int = MASTER_UI_PORT) -> dict | None:
    """The master's JSON status (workers, apps), or None when it does not answer."""
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=3) as resp:
            return json.load(resp)
    except OSError:
        return None


def cluster_up(settings: Settings, workers: int = 1, worker_cores: int = 1, worker_memory: str = "2g",
               timeout_s: float = 90) -> dict:
    if master_state() is None:
        _launch(settings, "master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                     "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI_PORT)])
    for i in range(1, workers + 1):
        pid_file = _cluster_dir(settings) / f"worker{i}.pid"
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            continue
        _launch(settings, f"worker{i}", [
            "org.apache.spark.deploy.worker.Worker", master_url(), "--host", "127.0.0.1",
            "--cores", str(worker_cores), "--memory", worker_memory,
            "--webui-port", str(MASTER_UI_PORT + i),
            "--work-dir", str(_cluster_dir(settings) / f"work{i}"),
        ])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = master_state()
        alive = [w for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE"]
        if len(alive) >= workers:
            return state
        time.sleep(1)
    raise RuntimeError(f"cluster did not get {workers} live workers in {timeout_s:.0f}s; see {_cluster_dir(settings)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_process(settings: Settings, name: str, sig: int = signal.SIGTERM) -> bool:
    pid_file = _cluster_dir(settings) / f"{name}.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, sig)
    except OSError:
        pass
    pid_file.unlink()
    return True


def cluster_down(settings: Settings) -> list[str]:
    stopped = []
    for pid_file in sorted(_cluster_dir(settings).glob("*.pid"), key=lambda p: p.name != "master.pid"):
        if stop_process(settings, pid_file.stem):
            stopped.append(pid_file.stem)
    return stopped


def package_zip(settings: Settings) -> Path:
    """The pipelines package as a zip for --py-files (what a remote executor imports)."""
    target = _cluster_dir(settings) / "telemetra-pipelines.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for path in (PROJECT_ROOT / "pipelines").rglob("*.py"):
            zf.write(path, path.relative_to(PROJECT_ROOT))
    return target


def entry_point(layer: str) -> Path:
    """The spark-submit script of a layer; ``all`` is pipelines/medallion.py."""
    return PROJECT_ROOT / "pipelines" / ("medallion.py" if layer == "all" else f"{layer}.py")


def submit_command(settings: Settings, layer: str, master: str, mode: str = "stream",
                   trigger: str | None = None, executor_memory: str = "1g",
                   extra_conf: list[str] = ()) -> list[str]:
    jars = extra_spark_jars(settings.jars_path)
    cmd = [
        str(_spark_home() / "bin" / "spark-submit"),
        "--master", master,
        "--name", f"telemetra-{layer}",
        "--jars", ",".join(jars),
        "--py-files", str(package_zip(settings)),
        "--conf", f"spark.executor.memory={executor_memory}",
        "--conf", f"spark.sql.shuffle.partitions={settings.spark_shuffle_partitions}",
        "--conf", f"spark.pyspark.python={sys.executable}",
        *[arg for kv in extra_conf for arg in ("--conf", kv)],
        "--driver-memory", settings.spark_driver_memory,
        str(entry_point(layer)),
        "--mode", mode,
    ]
    if trigger:
        cmd += ["--trigger", trigger]
    return cmd

