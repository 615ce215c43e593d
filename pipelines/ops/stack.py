"""The whole local stack under supervisord: broker, producer, pipeline, app, API, quality.

``telemetra up`` writes ``<run_dir>/supervisord.conf``, starts supervisord (a daemon) and
then the programs in order; ``down`` shuts it all down. Logs go to ``<run_dir>/logs``.
Each program is a ``telemetra`` command run with this same Python, so the environment and
config the user started ``up`` with carry over.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import PROJECT_ROOT, Settings


@dataclass(frozen=True)
class Program:
    name: str
    args: str  # arguments to `python -m pipelines.ops.cli`
    stopwaitsecs: int = 30
    # SIGTERM to the whole process group. Not for the pipeline: its driver JVM (a child
    # process) would die at once and the Python side could not stop the query between
    # batches; the Python side gets the signal, stops the query, then Spark. A SIGKILL after
    # stopwaitsecs still goes to the whole group.
    stop_as_group: bool = True
    nice: int = 0  # CPU priority (nice value): above 0, it yields the cores to the others


QUALITY_START_S = 120
STARTSECS = 2  # up this long counts as started (a program dying sooner is retried)


def programs(settings: Settings) -> list[Program]:
    """Start order. The pipeline before the broker: its JVM start and table creation take
    longer than the broker's start, and its query waits for the broker. The broker only
    when Kafka is the local one."""
    progs = [Program("pipeline", "run all --mode stream", stopwaitsecs=60, stop_as_group=False)]
    if is_local_kafka(settings):
        progs.append(Program("kafka", "kafka run", stopwaitsecs=60))
    # Live chat when channels are named (TWITCH_CHANNELS), else the demo producer.
    channels = ",".join(c.strip() for c in settings.twitch_channels.split(",") if c.strip())
    source = Program("twitch", f"twitch --channels {channels}") if channels else None
    progs += [
        source or Program("producer", "produce"),
        Program("app", "app"),
        Program("api", "api"),
        # The first check waits until the pipeline's first batches are through: both are
        # Spark on the same 2 cores, and the first gold rows matter more. A check keeps a
        # core busy for about a minute (52 of 60 CPU-seconds, measured in a running stack),
        # so it runs at a lower CPU priority: the pipeline's batches come first.
        Program(
            "quality",
            f"quality --every {settings.quality_interval_seconds} --start-after {QUALITY_START_S}",
            nice=10,
        ),
    ]
    return progs


def is_local_kafka(settings: Settings) -> bool:
    return settings.kafka_bootstrap_servers in (
        f"127.0.0.1:{settings.kafka_port}",
        f"localhost:{settings.kafka_port}",
    )


def _paths(settings: Settings) -> dict[str, Path]:
    run = settings.run_path
    return {
        "run": run,
        "logs": run / "logs",
        "conf": run / "supervisord.conf",
        "sock": run / "supervisor.sock",
        "pid": run / "supervisord.pid",
    }


def write_config(settings: Settings) -> Path:
    p = _paths(settings)
    p["logs"].mkdir(parents=True, exist_ok=True)
    lines = [
        "[unix_http_server]",
        f"file={p['sock']}",
        "[supervisord]",
        f"logfile={p['logs'] / 'supervisord.log'}",
        f"pidfile={p['pid']}",
        f"childlogdir={p['logs']}",
        f"directory={PROJECT_ROOT}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{p['sock']}",
    ]
    for prog in programs(settings):
        lines += [
            f"[program:{prog.name}]",
            f"command={f'nice -n {prog.nice} ' if prog.nice else ''}"
            f"{sys.executable} -m pipelines.ops.cli {prog.args}",
            f"directory={PROJECT_ROOT}",
            "autostart=false",
            "autorestart=unexpected",
            # `up` starts the programs one by one and supervisorctl waits startsecs for
            # each: at 5 s that alone made `up` take 25 s and held the broker's start back.
            f"startsecs={STARTSECS}",
            f"stopwaitsecs={prog.stopwaitsecs}",
            f"stopasgroup={str(prog.stop_as_group).lower()}",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={p['logs'] / (prog.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
    p["conf"].write_text("\n".join(lines) + "\n")
    return p["conf"]


def ctl(settings: Settings, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    conf = _paths(settings)["conf"]
    return subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), *args],
        capture_output=True,
        text=True,
        check=check,
    )


def supervisord_running(settings: Settings) -> bool:
    if not _paths(settings)["sock"].exists():
        return False
    return ctl(settings, "pid").stdout.strip().isdigit()


def ensure_supervisord(settings: Settings) -> None:
    """Start supervisord with a fresh config, or reload the config into a running one."""
    conf = write_config(settings)
    if supervisord_running(settings):
        ctl(settings, "update")
        return
    subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], check=True)
    deadline = time.monotonic() + 20
    while not supervisord_running(settings):
        if time.monotonic() > deadline:
            raise RuntimeError(f"supervisord did not start; see {_paths(settings)['logs']}")
        time.sleep(0.3)


def start(settings: Settings, name: str) -> None:
    result = ctl(settings, "start", name)
    if "ERROR" in result.stdout and "already started" not in result.stdout:
        raise RuntimeError(
            f"{name} did not start: {result.stdout.strip()} (see `telemetra logs {name}`)"
        )


def stop(settings: Settings, name: str) -> str:
    return ctl(settings, "stop", name).stdout.strip()


def status(settings: Settings) -> str:
    if not supervisord_running(settings):
        return "the local stack is not running (telemetra up starts it)"
    return ctl(settings, "status").stdout.rstrip()


def shutdown(settings: Settings) -> bool:
    """Stop every program and supervisord; True if it was running."""
    if not supervisord_running(settings):
        return False
    ctl(settings, "stop", "all")
    ctl(settings, "shutdown")
    deadline = time.monotonic() + 60
    while _paths(settings)["pid"].exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    return True


def log_file(settings: Settings, name: str) -> Path:
    return _paths(settings)["logs"] / f"{name}.log"
