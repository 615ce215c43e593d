"""A Spark standalone cluster on this machine (master + workers from pyspark's spark-class),
and spark-submit of the pipeline to any master, passing jars the way the Docker image does.

The same job modules run in local mode and on a cluster; only the spark-submit line differs.
The driver ships the ``pipelines`` package to the executors itself (``spark.ship_package``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.jobs.spark import extra_spark_jars

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
    """Start a daemon in a session of its own, so its process group (the daemon and, for a
    worker, its executors) can be signalled as one."""
    cdir = _cluster_dir(settings)
    with open(cdir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            [str(_spark_home() / "bin" / "spark-class"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
    (cdir / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def master_state(ui_port: int = MASTER_UI_PORT, timeout_s: float = 3) -> dict | None:
    """The master's JSON status (workers, apps), or None when it does not answer."""
    return _get_json(f"http://127.0.0.1:{ui_port}/json/", timeout_s)


def worker_state(worker: dict, timeout_s: float = 3) -> dict | None:
    """A worker's own JSON status (its executors), from the master's record of the worker."""
    return _get_json(f"{worker['webuiaddress'].rstrip('/')}/json/", timeout_s)


def _get_json(url: str, timeout_s: float) -> dict | None:
    import json

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.load(resp)
    except OSError:
        return None


def cluster_up(
    settings: Settings,
    workers: int = 1,
    worker_cores: int = 1,
    worker_memory: str = "2g",
    timeout_s: float = 90,
    *,
    master_port: int = MASTER_PORT,
    ui_port: int = MASTER_UI_PORT,
    worker_ui_port: int | None = None,
) -> dict:
    """Start a master and ``workers`` workers on loopback (those already running are kept);
    return the master's state once every worker has registered.

    Worker i's UI listens on ``worker_ui_port + i - 1`` (default: the master's UI port + i,
    as on a stock cluster); 0 lets each worker pick a free port, for tests beside a running
    cluster.
    """
    if master_state(ui_port) is None:
        _launch(
            settings,
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(master_port),
                "--webui-port",
                str(ui_port),
            ],
        )
    first_ui = ui_port + 1 if worker_ui_port is None else worker_ui_port
    for i in range(1, workers + 1):
        pid_file = _cluster_dir(settings) / f"worker{i}.pid"
        if pid_file.exists() and _alive(int(pid_file.read_text())):
            continue
        _launch(
            settings,
            f"worker{i}",
            [
                "org.apache.spark.deploy.worker.Worker",
                master_url(port=master_port),
                "--host",
                "127.0.0.1",
                "--cores",
                str(worker_cores),
                "--memory",
                worker_memory,
                "--webui-port",
                str(first_ui + i - 1 if first_ui else 0),
                "--work-dir",
                str(_cluster_dir(settings) / f"work{i}"),
            ],
        )
    return _wait_for_workers(settings, workers, ui_port, timeout_s)


def _wait_for_workers(settings: Settings, workers: int, ui_port: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = master_state(ui_port)
        alive = [w for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE"]
        if len(alive) >= workers:
            return state
        time.sleep(1)
    logs = _cluster_dir(settings)
    raise RuntimeError(f"{workers} worker(s) not all live after {timeout_s:.0f}s; see {logs}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_process(
    settings: Settings, name: str, sig: int = signal.SIGTERM, timeout_s: float = 20
) -> bool:
    """Signal a daemon's whole process group (a worker's executors are in it), wait for the
    group to go, and SIGKILL what is left after ``timeout_s``: nothing outlives ``down``."""
    pid_file = _cluster_dir(settings) / f"{name}.pid"
    if not pid_file.exists():
        return False
    pgid = int(pid_file.read_text())
    _signal_group(pgid, sig)
    deadline = time.monotonic() + timeout_s
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)
    pid_file.unlink()
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass  # already gone


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def cluster_down(settings: Settings) -> list[str]:
    """Stop the workers, then the master (which would otherwise log every worker's loss)."""
    stopped = []
    pid_files = sorted(_cluster_dir(settings).glob("*.pid"), key=lambda p: p.name == "master.pid")
    for pid_file in pid_files:
        if stop_process(settings, pid_file.stem):
            stopped.append(pid_file.stem)
    return stopped


# The spark-submit script of every layer (its first argument names the layer).
ENTRY_POINT = PROJECT_ROOT / "pipelines" / "jobs" / "submit.py"


def submit_command(
    settings: Settings,
    layer: str,
    master: str,
    mode: str = "stream",
    trigger: str | None = None,
    executor_memory: str = "1g",
    extra_conf: list[str] = (),
) -> list[str]:
    """The spark-submit line of a layer's entry point: jars by local path (nothing resolved at
    start), the driver's own Python for the executors unless ``extra_conf`` says otherwise."""
    jars = extra_spark_jars(settings.jars_path)
    cmd = [
        str(_spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--name",
        f"telemetra-{layer}",
        "--jars",
        ",".join(jars),
        "--conf",
        f"spark.executor.memory={executor_memory}",
        "--conf",
        f"spark.sql.shuffle.partitions={settings.spark_shuffle_partitions}",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        *[arg for kv in extra_conf for arg in ("--conf", kv)],
        "--driver-memory",
        settings.spark_driver_memory,
        str(ENTRY_POINT),
        layer,
        "--mode",
        mode,
    ]
    if trigger:
        cmd += ["--trigger", trigger]
    return cmd
